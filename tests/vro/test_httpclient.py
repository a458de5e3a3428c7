"""The VRO client's httpx client: cookies as stock httpx keeps them, the jar skipped when none is set."""

from __future__ import annotations

from http.cookiejar import CookieJar
from typing import Any

import httpx

from bot.clock import FakeClock
from bot.vro.auth import PasswordCredentials
from bot.vro.client import RetryPolicy, VroClient
from bot.vro.httpclient import VroHttpClient
from tests.vro.conftest import BASE_URL, PASSWORD, USERNAME, FakeVro, fixture_json


class RecordingJar(CookieJar):
    """A cookie jar that notes every response it is asked to read."""

    def __init__(self) -> None:
        super().__init__()
        self.read: list[str] = []

    def extract_cookies(self, response: Any, request: Any) -> None:
        self.read.append(request.get_full_url())
        super().extract_cookies(response, request)


def answer_with(headers: dict[str, str]) -> httpx.MockTransport:
    """Answers every request 200, with ``headers``, and echoes the Cookie header it got."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=headers, json={"cookie": request.headers.get("Cookie")})

    return httpx.MockTransport(handler)


async def test_a_cookie_the_server_sets_is_stored_and_sent_back() -> None:
    transport = answer_with({"Set-Cookie": "session=abc; Path=/"})
    async with VroHttpClient(transport=transport, base_url="https://vro.test") as http:
        first = await http.get("/api/v7/Plans")
        second = await http.get("/api/v7/Plans")
    assert http.cookies.get("session") == "abc"
    assert (first.json(), second.json()) == ({"cookie": None}, {"cookie": "session=abc"})


async def test_a_response_without_set_cookie_never_reaches_the_jar() -> None:
    jar = RecordingJar()
    async with VroHttpClient(transport=answer_with({}), base_url="https://vro.test") as http:
        http.cookies = jar
        await http.get("/api/v7/Plans")
    assert jar.read == []
    assert len(http.cookies) == 0


async def test_a_response_with_set_cookie_goes_through_the_standard_jar() -> None:
    jar = RecordingJar()
    transport = answer_with({"Set-Cookie": "session=abc; Path=/"})
    async with VroHttpClient(transport=transport, base_url="https://vro.test") as http:
        http.cookies = jar
        await http.get("/api/v7/Plans")
    assert jar.read == ["https://vro.test/api/v7/Plans"]
    assert http.cookies.get("session") == "abc"


async def test_cookies_given_to_the_client_are_sent() -> None:
    async with VroHttpClient(transport=answer_with({}), cookies={"lb": "node-2"}) as http:
        response = await http.get("https://vro.test/api/v7/Plans")
    assert response.json() == {"cookie": "lb=node-2"}


async def test_the_vro_client_sends_back_a_cookie_its_token_answer_set(
    fake_vro: FakeVro, clock: FakeClock
) -> None:
    """A load balancer's affinity cookie set on the login still reaches VRO with the next call."""
    fake_vro.route("GET", "/api/v7.21/Plans/p1", httpx.Response(200, json=fixture_json("plan")))
    fake_vro.token_handler = lambda request: httpx.Response(
        200,
        headers={"Set-Cookie": "affinity=node-2; Path=/"},
        json={"access_token": "access-1", "expires_in": 899, "refresh_token": "refresh-1"},
    )
    fake_vro.valid_tokens.add("access-1")
    async with VroClient(
        base_url=BASE_URL,
        credentials=PasswordCredentials(USERNAME, PASSWORD),
        api_version="v7.21",
        transport=httpx.MockTransport(fake_vro),
        clock=clock,
        retry=RetryPolicy.never(),
    ) as vro:
        await vro.get_plan("p1")
    assert fake_vro.api_requests[-1].headers.get("Cookie") == "affinity=node-2"
