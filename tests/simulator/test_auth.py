"""/api/token grants, bearer tokens, API clients and MFA enrolment."""

from __future__ import annotations

import httpx

from bot.clock import FakeClock
from bot.simulator import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
    MFA_PASSWORD,
    MFA_TOTP_SECRET,
    MFA_USERNAME,
    Simulator,
    create_simulator,
    totp_code,
)
from bot.simulator.app import SimulatorConfig
from tests.simulator.helpers import API


async def _login(anon: httpx.AsyncClient, **form: str) -> httpx.Response:
    return await anon.post("/api/token", data=form)


async def test_password_grant_answers_a_bearer_pair_with_vro_lifetime(anon: httpx.AsyncClient) -> None:
    response = await _login(anon, grant_type="password", username=DEFAULT_USERNAME, password=DEFAULT_PASSWORD)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 899
    assert body["access_token"]
    assert body["refresh_token"]


async def test_domain_prefixed_user_name_is_accepted(anon: httpx.AsyncClient) -> None:
    response = await _login(
        anon, grant_type="password", username=f"CORP\\{ADMIN_USERNAME.upper()}", password=ADMIN_PASSWORD
    )
    assert response.status_code == 200


async def test_multipart_form_is_accepted(anon: httpx.AsyncClient) -> None:
    response = await anon.post(
        "/api/token",
        files={
            "grant_type": (None, "password"),
            "username": (None, DEFAULT_USERNAME),
            "password": (None, DEFAULT_PASSWORD),
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["access_token"]


async def test_wrong_password_is_an_owin_invalid_grant(anon: httpx.AsyncClient) -> None:
    response = await _login(anon, grant_type="password", username=DEFAULT_USERNAME, password="nope")
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "The user name or password is incorrect.",
    }


async def test_unknown_grant_type_is_unsupported(anon: httpx.AsyncClient) -> None:
    response = await _login(anon, grant_type="implicit")
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


async def test_json_body_on_token_endpoint_is_refused_with_a_reason(anon: httpx.AsyncClient) -> None:
    response = await anon.post("/api/token", json={"grant_type": "password"})
    assert response.status_code == 400
    assert "form" in response.json()["error_description"]


async def test_refresh_token_rotates_and_cannot_be_reused(anon: httpx.AsyncClient) -> None:
    first = (
        await _login(anon, grant_type="password", username=DEFAULT_USERNAME, password=DEFAULT_PASSWORD)
    ).json()
    second = await _login(anon, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert second.status_code == 200
    assert second.json()["access_token"] != first["access_token"]
    again = await _login(anon, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


async def test_access_token_expires_after_15_minutes_refresh_after_120(
    anon: httpx.AsyncClient, clock: FakeClock
) -> None:
    tokens = (
        await _login(anon, grant_type="password", username=DEFAULT_USERNAME, password=DEFAULT_PASSWORD)
    ).json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    clock.advance(14 * 60)
    assert (await anon.get(f"{API}/Plans", headers=headers)).status_code == 200
    clock.advance(60)
    expired = await anon.get(f"{API}/Plans", headers=headers)
    assert expired.status_code == 401
    assert expired.json() == {"Message": "Authorization has been denied for this request."}
    clock.advance(100 * 60)
    refreshed = await _login(anon, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert refreshed.status_code == 200
    clock.advance(121 * 60)
    late = await _login(anon, grant_type="refresh_token", refresh_token=refreshed.json()["refresh_token"])
    assert late.status_code == 400


async def test_lifetimes_are_configurable(clock: FakeClock) -> None:
    sim = create_simulator(clock=clock, config=SimulatorConfig(access_token_minutes=1))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim), base_url="http://t") as client:
        body = (
            await _login(client, grant_type="password", username=DEFAULT_USERNAME, password=DEFAULT_PASSWORD)
        ).json()
        assert body["expires_in"] == 59
        clock.advance(61)
        headers = {"Authorization": f"Bearer {body['access_token']}"}
        assert (await client.get(f"{API}/Plans", headers=headers)).status_code == 401


async def test_missing_or_malformed_authorization_is_401(anon: httpx.AsyncClient) -> None:
    assert (await anon.get(f"{API}/Plans")).status_code == 401
    assert (await anon.get(f"{API}/Plans", headers={"Authorization": "Basic abc"})).status_code == 401
    assert (await anon.get(f"{API}/Plans", headers={"Authorization": "Bearer nope"})).status_code == 401


async def test_mfa_user_gets_an_mfa_token_then_logs_in_with_a_totp(
    anon: httpx.AsyncClient, clock: FakeClock
) -> None:
    first = await _login(anon, grant_type="password", username=MFA_USERNAME, password=MFA_PASSWORD)
    assert first.status_code == 200
    body = first.json()
    assert "access_token" not in body
    mfa_token = body["mfa_token"]
    wrong = await _login(anon, grant_type="mfa", mfa_token=mfa_token, mfa_passcode="000000")
    if totp_code(MFA_TOTP_SECRET, clock.now()) != "000000":
        assert wrong.status_code == 400
    code = totp_code(MFA_TOTP_SECRET, clock.now())
    second = await _login(anon, grant_type="mfa", mfa_token=mfa_token, mfa_passcode=code)
    assert second.status_code == 200
    assert second.json()["access_token"]
    reused = await _login(anon, grant_type="mfa", mfa_token=mfa_token, mfa_passcode=code)
    assert reused.status_code == 400


def test_totp_matches_rfc_6238_test_vector() -> None:
    from datetime import UTC, datetime

    secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # base32 of "12345678901234567890"
    assert totp_code(secret, datetime.fromtimestamp(59, UTC), digits=8) == "94287082"
    assert totp_code(secret, datetime.fromtimestamp(1111111109, UTC), digits=8) == "07081804"


async def test_generate_mfa_code_returns_the_secret_once(anon: httpx.AsyncClient, sim: Simulator) -> None:
    """The call needs a bearer token, as the reference documents (userAuth) [D721][D13]."""
    mfa_token = (
        await _login(anon, grant_type="password", username=MFA_USERNAME, password=MFA_PASSWORD)
    ).json()["mfa_token"]
    without_bearer = await anon.post(f"{API}/Mfa/GenerateMfaCode", json={"mfaToken": mfa_token})
    assert without_bearer.status_code == 401
    user = {"Authorization": f"Bearer {sim.token()}"}
    first = await anon.post(f"{API}/Mfa/GenerateMfaCode", json={"mfaToken": mfa_token}, headers=user)
    assert first.status_code == 200
    assert first.json()["mfaKey"] == MFA_TOTP_SECRET
    assert first.json()["mfaQrCodeUrl"].startswith("otpauth://totp/")
    second = await anon.post(f"{API}/Mfa/GenerateMfaCode", json={"mfaToken": mfa_token}, headers=user)
    assert second.status_code == 401
    malformed = await anon.post(f"{API}/Mfa/GenerateMfaCode", content=b"{not json", headers=user)
    assert malformed.status_code == 400


async def test_clients_create_list_login_and_delete(anon: httpx.AsyncClient, sim: Simulator) -> None:
    user = {"Authorization": f"Bearer {sim.token(ADMIN_USERNAME)}"}
    created = await anon.post(f"{API}/Clients", headers=user)
    assert created.status_code == 200
    client_id, secret = created.json()["client_id"], created.json()["client_secret"]
    assert client_id == client_id.upper()
    assert secret.startswith("AQAAANCMnd8BFdERjHoAwE/Cl+sBAAAA")
    assert (await anon.get(f"{API}/Clients", headers=user)).json() == [client_id]

    login = await _login(anon, grant_type="client_credentials", client_id=client_id, client_secret=secret)
    assert login.status_code == 200
    as_client = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert (await anon.get(f"{API}/Plans", headers=as_client)).status_code == 200
    assert (await anon.get(f"{API}/Clients", headers=as_client)).json() == [client_id]
    refused = await anon.post(f"{API}/Clients", headers=as_client)
    assert refused.status_code == 403
    assert "client" in refused.json()["Message"]

    assert (await anon.delete(f"{API}/Clients", headers=user)).status_code == 400
    deleted = await anon.delete(f"{API}/Clients", params={"clientId": client_id}, headers=user)
    assert deleted.status_code == 204
    assert (await anon.get(f"{API}/Plans", headers=as_client)).status_code == 401
    gone = await anon.delete(f"{API}/Clients", params={"clientId": client_id}, headers=user)
    assert gone.status_code == 404
    bad = await _login(anon, grant_type="client_credentials", client_id=client_id, client_secret=secret)
    assert bad.json()["error"] == "invalid_client"


async def test_expire_tokens_now(anon: httpx.AsyncClient, sim: Simulator) -> None:
    headers = {"Authorization": f"Bearer {sim.token()}"}
    assert (await anon.get(f"{API}/Scopes", headers=headers)).status_code == 200
    sim.expire_tokens()
    assert (await anon.get(f"{API}/Scopes", headers=headers)).status_code == 401


async def test_single_session_mode_logs_out_the_previous_login(clock: FakeClock) -> None:
    sim = create_simulator(clock=clock, config=SimulatorConfig(single_session=True))
    first, second = sim.token(), sim.token()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim), base_url="http://t") as client:
        assert (
            await client.get(f"{API}/Plans", headers={"Authorization": f"Bearer {first}"})
        ).status_code == 401
        assert (
            await client.get(f"{API}/Plans", headers={"Authorization": f"Bearer {second}"})
        ).status_code == 200
