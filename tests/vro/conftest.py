"""A scripted VRO behind ``httpx.MockTransport``: a token endpoint and a route table."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from bot.clock import FakeClock
from bot.vro.auth import Credentials, PasswordCredentials
from bot.vro.client import RetryPolicy, VroClient

FIXTURES = Path(__file__).parent / "fixtures"
BASE_URL = "https://vro.test:9898"
USERNAME = "svc-bot"
PASSWORD = "hunter2-very-secret"
TOKEN_LIFETIME = 899

Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]


def fixture_json(name: str) -> Any:
    """A sample payload from tests/vro/fixtures."""
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def body_of(request: httpx.Request) -> Any:
    """The request's JSON body, or None when it has none."""
    return json.loads(request.content) if request.content else None


class FakeVro:
    """Routes requests like VRO: ``/api/token`` issues tokens; API paths need a valid bearer.

    ``routes[(method, path)]`` holds a list of responses (or handlers) answered in turn, the last
    one repeating. Everything is recorded for assertions.
    """

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[httpx.Response | Handler]] = {}
        self.grants: list[dict[str, str]] = []
        self.api_requests: list[httpx.Request] = []
        self.valid_tokens: set[str] = set()
        self.refresh_tokens: set[str] = set()
        self.issued = 0
        self.token_gate: asyncio.Event | None = None
        self.token_handler: Handler | None = None
        self.mfa_passcode: str | None = None  # when set, the password grant answers with an MFA token

    def route(self, method: str, path: str, *answers: httpx.Response | Handler) -> None:
        self.routes[(method, path)] = list(answers)

    def issue(self) -> httpx.Response:
        self.issued += 1
        access, refresh = f"access-{self.issued}", f"refresh-{self.issued}"
        self.valid_tokens.add(access)
        self.refresh_tokens.add(refresh)
        return httpx.Response(
            200,
            json={
                "access_token": access,
                "token_type": "bearer",
                "expires_in": TOKEN_LIFETIME,
                "refresh_token": refresh,
            },
        )

    def expire_all_tokens(self) -> None:
        self.valid_tokens.clear()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/token":
            return await self._token(request)
        self.api_requests.append(request)
        auth = request.headers.get("Authorization", "")
        if auth.removeprefix("Bearer ") not in self.valid_tokens:
            return httpx.Response(401, json={"Message": "Authorization has been denied for this request."})
        answers = self.routes.get((request.method, request.url.path))
        if not answers:
            return httpx.Response(404, json={"Message": f"No route {request.method} {request.url.path}"})
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, httpx.Response):
            return answer
        result = answer(request)
        return await result if isinstance(result, Awaitable) else result

    async def _token(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
        form = dict(parse_qsl(request.content.decode()))
        self.grants.append(form)
        if self.token_gate is not None:
            await self.token_gate.wait()
        if self.token_handler is not None:
            result = self.token_handler(request)
            return await result if isinstance(result, Awaitable) else result
        grant = form.get("grant_type")
        if grant == "password":
            if form.get("username") != USERNAME or form.get("password") != PASSWORD:
                return _invalid_grant("The user name or password is incorrect.")
            if self.mfa_passcode is not None:
                return httpx.Response(200, json={"mfa_token": "mfa-token-1"})
            return self.issue()
        if grant == "mfa":
            if form.get("mfa_token") != "mfa-token-1" or form.get("mfa_passcode") != self.mfa_passcode:
                return _invalid_grant("The MFA passcode is incorrect.")
            return self.issue()
        if grant == "refresh_token":
            if form.get("refresh_token") not in self.refresh_tokens:
                return _invalid_grant("The refresh token is invalid or expired.")
            self.refresh_tokens.discard(form["refresh_token"])
            return self.issue()
        if grant == "client_credentials":
            return self.issue()
        return httpx.Response(400, json={"error": "unsupported_grant_type"})

    def grant_types(self) -> list[str]:
        return [g["grant_type"] for g in self.grants]


def _invalid_grant(text: str) -> httpx.Response:
    return httpx.Response(400, json={"error": "invalid_grant", "error_description": text})


@pytest.fixture
def fake_vro() -> FakeVro:
    return FakeVro()


@pytest.fixture
def credentials() -> Credentials:
    return PasswordCredentials(username=USERNAME, password=PASSWORD)


@pytest.fixture
async def client(fake_vro: FakeVro, clock: FakeClock, credentials: Credentials) -> AsyncIterator[VroClient]:
    """A VroClient wired to ``fake_vro`` and the FakeClock (retries sleep on the fake clock)."""
    async with VroClient(
        base_url=BASE_URL,
        api_version="v7.21",
        credentials=credentials,
        transport=httpx.MockTransport(fake_vro),
        clock=clock,
        retry=RetryPolicy(),
    ) as vro:
        yield vro
