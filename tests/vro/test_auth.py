"""The token manager: lazy login, refresh ahead of expiry and on 401, one refresh at a time, MFA."""

from __future__ import annotations

import asyncio
import base64
import logging
from urllib.parse import parse_qsl

import httpx
import pytest

from bot.clock import FakeClock
from bot.vro.auth import (
    DEFAULT_REFRESH_MARGIN_SECONDS,
    ClientCredentialsGrant,
    PasswordCredentials,
    mfa_passcode,
)
from bot.vro.client import RetryPolicy, VroClient
from bot.vro.errors import VroAuthError, VroMfaRequired, VroUnavailable, VroUnexpected
from tests.vro.conftest import BASE_URL, PASSWORD, TOKEN_LIFETIME, USERNAME, FakeVro, fixture_json

PLAN_ID = "b063f440-2f15-45aa-a8f7-196be6f652ba"
PLAN_PATH = f"/api/v7.21/Plans/{PLAN_ID}"
# RFC 6238 appendix B: the SHA1 key is the ASCII string "12345678901234567890".
RFC_KEY = b"12345678901234567890"
RFC_SECRET_B32 = base64.b32encode(RFC_KEY).decode()  # GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ


def make_client(
    fake_vro: FakeVro, clock: FakeClock, credentials: PasswordCredentials | ClientCredentialsGrant
) -> VroClient:
    return VroClient(
        base_url=BASE_URL,
        credentials=credentials,
        api_version="v7.21",
        transport=httpx.MockTransport(fake_vro),
        clock=clock,
        retry=RetryPolicy.never(),
    )


@pytest.fixture(autouse=True)
def plan_route(fake_vro: FakeVro) -> None:
    fake_vro.route("GET", PLAN_PATH, httpx.Response(200, json=fixture_json("plan")))


# --- TOTP -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unix_time", "eight_digits"),
    [
        (59, "94287082"),
        (1111111109, "07081804"),
        (1111111111, "14050471"),
        (1234567890, "89005924"),
        (2000000000, "69279037"),
        (20000000000, "65353130"),
    ],
)
def test_passcodes_match_rfc6238_sha1_vectors(unix_time: int, eight_digits: str) -> None:
    """RFC 6238 appendix B (SHA1), as pyotp computes it: the 6-digit code VRO expects."""
    assert mfa_passcode(RFC_SECRET_B32, unix_time) == eight_digits[-6:]


def test_base32_secret_is_read_leniently() -> None:
    """Authenticator-style secrets: lower case, spaces and missing padding are fine."""
    spaced = " ".join(RFC_SECRET_B32[i : i + 4] for i in range(0, len(RFC_SECRET_B32), 4)).lower()
    assert mfa_passcode(spaced.rstrip("="), 59) == "287082"


def test_invalid_base32_secret_error_does_not_quote_it() -> None:
    """A bad secret gives a clear error that does not repeat the secret."""
    with pytest.raises(ValueError, match="not valid base32") as caught:
        mfa_passcode("not!base32!secret", 59)
    assert "not!base32!secret" not in str(caught.value)


# --- login and refresh ----------------------------------------------------------------------


async def test_login_is_lazy_and_uses_the_password_grant(fake_vro: FakeVro, client: VroClient) -> None:
    """Nothing is sent until the first call; then one form-encoded password grant, then the call."""
    assert fake_vro.grants == []
    await client.get_plan(PLAN_ID)
    assert fake_vro.grants == [{"grant_type": "password", "username": USERNAME, "password": PASSWORD}]
    assert fake_vro.api_requests[0].headers["Authorization"] == "Bearer access-1"
    await client.get_plan(PLAN_ID)
    assert len(fake_vro.grants) == 1


async def test_client_credentials_grant(fake_vro: FakeVro, clock: FakeClock) -> None:
    """An API client logs in with grant_type=client_credentials."""
    creds = ClientCredentialsGrant(client_id="72225B81-3FC2", client_secret="AQAAANCM-secret")
    async with make_client(fake_vro, clock, creds) as vro:
        await vro.get_plan(PLAN_ID)
    assert fake_vro.grants == [
        {"grant_type": "client_credentials", "client_id": "72225B81-3FC2", "client_secret": "AQAAANCM-secret"}
    ]


async def test_token_is_refreshed_ahead_of_expiry(
    fake_vro: FakeVro, clock: FakeClock, client: VroClient
) -> None:
    """Within the refresh margin before expiry, the next call refreshes first (refresh_token grant)."""
    await client.get_plan(PLAN_ID)
    clock.advance(TOKEN_LIFETIME - DEFAULT_REFRESH_MARGIN_SECONDS - 1)
    await client.get_plan(PLAN_ID)
    assert fake_vro.grant_types() == ["password"]
    clock.advance(2)
    await client.get_plan(PLAN_ID)
    assert fake_vro.grant_types() == ["password", "refresh_token"]
    assert fake_vro.grants[1]["refresh_token"] == "refresh-1"
    assert fake_vro.api_requests[-1].headers["Authorization"] == "Bearer access-2"


async def test_a_401_refreshes_once_and_retries_the_call(fake_vro: FakeVro, client: VroClient) -> None:
    """VRO forgetting our token (e.g. a restart) costs one refresh and one repeat of the call."""
    await client.get_plan(PLAN_ID)
    fake_vro.expire_all_tokens()
    plan = await client.get_plan(PLAN_ID)
    assert plan.id == PLAN_ID
    assert fake_vro.grant_types() == ["password", "refresh_token"]
    assert [r.headers["Authorization"] for r in fake_vro.api_requests] == [
        "Bearer access-1",
        "Bearer access-1",
        "Bearer access-2",
    ]


async def test_a_401_on_an_action_is_renewed_and_the_action_sent_once_more(
    fake_vro: FakeVro, client: VroClient
) -> None:
    """A 401 means VRO did not run the action, so it is sent again after the refresh (only then)."""
    fake_vro.route("POST", f"{PLAN_PATH}/Enable", httpx.Response(200))
    await client.get_plan(PLAN_ID)
    fake_vro.expire_all_tokens()
    await client.enable_plan(PLAN_ID)
    posts = [r for r in fake_vro.api_requests if r.method == "POST"]
    assert [r.headers["Authorization"] for r in posts] == ["Bearer access-1", "Bearer access-2"]


async def test_refused_refresh_token_falls_back_to_a_fresh_login(
    fake_vro: FakeVro, clock: FakeClock, client: VroClient
) -> None:
    """When VRO refuses the refresh token (expired after 2 h), the manager logs in again."""
    await client.get_plan(PLAN_ID)
    fake_vro.refresh_tokens.clear()
    clock.advance(TOKEN_LIFETIME)
    await client.get_plan(PLAN_ID)
    assert fake_vro.grant_types() == ["password", "refresh_token", "password"]
    assert fake_vro.api_requests[-1].headers["Authorization"] == "Bearer access-2"


async def test_fifty_concurrent_calls_with_an_expired_token_cause_one_refresh(
    fake_vro: FakeVro, clock: FakeClock, client: VroClient
) -> None:
    """However many calls wait for a renewed token, exactly one refresh is sent."""
    await client.get_plan(PLAN_ID)
    clock.advance(TOKEN_LIFETIME + 1)
    fake_vro.token_gate = asyncio.Event()  # hold the refresh until every call is waiting

    calls = [asyncio.create_task(client.get_plan(PLAN_ID)) for _ in range(50)]
    for _ in range(5):
        await asyncio.sleep(0)
    fake_vro.token_gate.set()
    plans = await asyncio.gather(*calls)

    assert len(plans) == 50
    assert fake_vro.grant_types() == ["password", "refresh_token"]
    assert {r.headers["Authorization"] for r in fake_vro.api_requests[1:]} == {"Bearer access-2"}


async def test_fifty_concurrent_401s_cause_one_refresh(fake_vro: FakeVro, client: VroClient) -> None:
    """Fifty calls refused with the same stale token share one renewal."""
    await client.get_plan(PLAN_ID)
    fake_vro.expire_all_tokens()
    fake_vro.token_gate = asyncio.Event()

    calls = [asyncio.create_task(client.get_plan(PLAN_ID)) for _ in range(50)]
    for _ in range(5):
        await asyncio.sleep(0)
    fake_vro.token_gate.set()
    plans = await asyncio.gather(*calls)

    assert len(plans) == 50
    assert fake_vro.grant_types() == ["password", "refresh_token"]


async def test_a_401_right_after_a_fresh_login_is_an_auth_error(fake_vro: FakeVro, client: VroClient) -> None:
    """If even a brand-new token is refused, the call fails with VroAuthError (no loop)."""
    fake_vro.route(
        "GET",
        PLAN_PATH,
        httpx.Response(401, json={"Message": "Authorization has been denied for this request."}),
    )
    with pytest.raises(VroAuthError) as caught:
        await client.get_plan(PLAN_ID)
    error = caught.value
    assert (error.method, error.path, error.status) == ("GET", PLAN_PATH, 401)
    assert error.vro_message == "Authorization has been denied for this request."
    assert "even after logging in again" in str(error)
    assert fake_vro.grant_types() == ["password", "refresh_token"]
    assert len(fake_vro.api_requests) == 2


async def test_wrong_password_is_an_auth_error_naming_the_variables(
    fake_vro: FakeVro, clock: FakeClock
) -> None:
    """VRO's invalid_grant becomes VroAuthError with VRO's words and the variables to check."""
    async with make_client(fake_vro, clock, PasswordCredentials(username=USERNAME, password="wrong")) as vro:
        with pytest.raises(VroAuthError) as caught:
            await vro.get_plan(PLAN_ID)
    message = str(caught.value)
    assert "The user name or password is incorrect. Check VRO_USERNAME and VRO_PASSWORD." in message
    assert caught.value.path == "/api/token"
    assert fake_vro.api_requests == []


async def test_token_endpoint_down_is_unavailable(fake_vro: FakeVro, client: VroClient) -> None:
    """A 503 from the token endpoint is VroUnavailable (retryable), not an auth failure."""
    fake_vro.token_handler = lambda request: httpx.Response(503, text="<html>Service Unavailable</html>")
    with pytest.raises(VroUnavailable, match="login"):
        await client.get_plan(PLAN_ID)


async def test_token_answer_without_tokens_is_unexpected(fake_vro: FakeVro, client: VroClient) -> None:
    """A 200 from the token endpoint that is HTML or lacks an access token is VroUnexpected."""
    fake_vro.token_handler = lambda request: httpx.Response(200, text="<html>login</html>")
    with pytest.raises(VroUnexpected, match="HTML"):
        await client.get_plan(PLAN_ID)
    fake_vro.token_handler = lambda request: httpx.Response(200, json={"token_type": "bearer"})
    with pytest.raises(VroUnexpected, match="without an access token"):
        await client.get_plan(PLAN_ID)


# --- MFA ------------------------------------------------------------------------------------


async def test_mfa_challenge_is_answered_with_a_totp_from_the_secret(
    fake_vro: FakeVro, clock: FakeClock
) -> None:
    """A password grant answered with mfa_token is followed by the mfa grant with the current TOTP."""
    fake_vro.mfa_passcode = mfa_passcode(RFC_SECRET_B32, clock.now().timestamp())
    creds = PasswordCredentials(username=USERNAME, password=PASSWORD, mfa_secret=RFC_SECRET_B32)
    async with make_client(fake_vro, clock, creds) as vro:
        plan = await vro.get_plan(PLAN_ID)
    assert plan.id == PLAN_ID
    assert fake_vro.grants[1] == {
        "grant_type": "mfa",
        "mfa_token": "mfa-token-1",
        "mfa_passcode": fake_vro.mfa_passcode,
    }


async def test_an_mfa_challenge_in_an_error_body_is_answered_too(fake_vro: FakeVro, clock: FakeClock) -> None:
    """A password grant refused with a body carrying mfa_token is the same challenge as a 200."""
    passcode = mfa_passcode(RFC_SECRET_B32, clock.now().timestamp())

    def challenge_as_error(request: httpx.Request) -> httpx.Response:
        form = dict(parse_qsl(request.content.decode()))
        if form["grant_type"] == "mfa" and form.get("mfa_passcode") == passcode:
            return fake_vro.issue()
        return httpx.Response(400, json={"error": "mfa_required", "MFA_TOKEN": "mfa-token-1"})

    fake_vro.token_handler = challenge_as_error
    creds = PasswordCredentials(username=USERNAME, password=PASSWORD, mfa_secret=RFC_SECRET_B32)
    async with make_client(fake_vro, clock, creds) as vro:
        plan = await vro.get_plan(PLAN_ID)
    assert plan.id == PLAN_ID
    assert fake_vro.grant_types() == ["password", "mfa"]


async def test_mfa_without_a_secret_says_to_set_vro_mfa_secret(fake_vro: FakeVro, client: VroClient) -> None:
    """Without VRO_MFA_SECRET the login fails with VroMfaRequired naming the variable."""
    fake_vro.mfa_passcode = "123456"
    with pytest.raises(VroMfaRequired) as caught:
        await client.get_plan(PLAN_ID)
    assert "MFA" in str(caught.value)
    assert "VRO_MFA_SECRET" in str(caught.value)
    assert fake_vro.grant_types() == ["password"]


async def test_wrong_mfa_passcode_is_an_auth_error(fake_vro: FakeVro, clock: FakeClock) -> None:
    """A refused passcode (wrong secret or skewed clock) says what to check."""
    fake_vro.mfa_passcode = "000000"
    creds = PasswordCredentials(username=USERNAME, password=PASSWORD, mfa_secret=RFC_SECRET_B32)
    async with make_client(fake_vro, clock, creds) as vro:
        with pytest.raises(VroAuthError, match="VRO_MFA_SECRET") as caught:
            await vro.get_plan(PLAN_ID)
    assert not isinstance(caught.value, VroMfaRequired)


# --- secrets --------------------------------------------------------------------------------


async def test_secrets_never_reach_reprs_logs_or_errors(
    fake_vro: FakeVro, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Passwords, MFA secrets, client secrets and tokens stay out of reprs, logs and error texts."""
    caplog.set_level(logging.DEBUG)
    fake_vro.mfa_passcode = mfa_passcode(RFC_SECRET_B32, clock.now().timestamp())
    creds = PasswordCredentials(username=USERNAME, password=PASSWORD, mfa_secret=RFC_SECRET_B32)
    client_creds = ClientCredentialsGrant(client_id="cid", client_secret="client-secret-value")
    texts = [repr(creds), repr(client_creds)]
    async with make_client(fake_vro, clock, creds) as vro:
        await vro.get_plan(PLAN_ID)
        fake_vro.expire_all_tokens()
        await vro.get_plan(PLAN_ID)  # 401, refresh, retry
        texts += [repr(vro), repr(vro._tokens)]
        fake_vro.route("GET", PLAN_PATH, httpx.Response(401, json={"Message": "denied"}))
        with pytest.raises(VroAuthError) as caught:
            await vro.get_plan(PLAN_ID)
        texts.append(str(caught.value))
        fake_vro.route("POST", "/api/v7.21/Clients", httpx.Response(200, json=fixture_json("client_created")))
        created = await vro.create_client()
        texts.append(repr(created))
    async with make_client(
        fake_vro, clock, PasswordCredentials(username=USERNAME, password="wrong-pw-xyz")
    ) as bad:
        with pytest.raises(VroAuthError) as refused:
            await bad.get_plan(PLAN_ID)
        texts.append(str(refused.value))
    texts.append(caplog.text)
    secrets = [
        PASSWORD,
        "wrong-pw-xyz",
        RFC_SECRET_B32,
        "client-secret-value",
        fake_vro.mfa_passcode,
        "mfa-token-1",
        created.client_secret,
        *(f"access-{i}" for i in range(1, fake_vro.issued + 1)),
        *(f"refresh-{i}" for i in range(1, fake_vro.issued + 1)),
    ]
    assert fake_vro.issued >= 2
    for text in texts:
        for secret in secrets:
            assert secret not in text, (secret, text)


async def test_short_lived_tokens_are_used_for_half_their_life(fake_vro: FakeVro, client: VroClient) -> None:
    """A lifetime shorter than the margin does not make every call refresh."""
    fake_vro.token_handler = lambda request: httpx.Response(
        200, json={"access_token": "short", "expires_in": 40, "refresh_token": "r"}
    )
    fake_vro.valid_tokens.add("short")
    await client.get_plan(PLAN_ID)
    await client.get_plan(PLAN_ID)
    assert fake_vro.grant_types() == ["password"]


async def test_a_token_without_lifetime_is_kept_until_vro_refuses_it(
    fake_vro: FakeVro, clock: FakeClock, client: VroClient
) -> None:
    """No expires_in: the token is used until a 401, then renewed."""
    fake_vro.token_handler = lambda request: httpx.Response(200, json={"access_token": "forever"})
    fake_vro.valid_tokens.add("forever")
    await client.get_plan(PLAN_ID)
    clock.advance(10_000)
    await client.get_plan(PLAN_ID)
    assert fake_vro.grant_types() == ["password"]
