"""Small helpers shared by the simulator tests."""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import Any

import httpx

from bot.simulator import Simulator

API = "/api/v7.21"


class FreshToken(httpx.Auth):
    """Signs every request with a new token, so tests may move the clock by hours."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.sim.token()}"
        yield request


def q(value: Any) -> str:
    """A filter / sort query value (JSON)."""
    return json.dumps(value)


async def runtime(http: httpx.AsyncClient, plan_id: str) -> dict[str, Any]:
    response = await http.get(f"{API}/RuntimeDetails/Plans/{plan_id}")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def plan(http: httpx.AsyncClient, plan_id: str) -> dict[str, Any]:
    response = await http.get(f"{API}/Plans/{plan_id}")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def act(http: httpx.AsyncClient, plan_id: str, action: str, body: Any = None) -> httpx.Response:
    if body is None:
        return await http.post(f"{API}/Plans/{plan_id}/{action}")
    return await http.post(f"{API}/Plans/{plan_id}/{action}", json=body)


async def items(http: httpx.AsyncClient, path: str, **params: str) -> list[dict[str, Any]]:
    response = await http.get(f"{API}{path}", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"total", "data"}
    data: list[dict[str, Any]] = body["data"]
    return data
