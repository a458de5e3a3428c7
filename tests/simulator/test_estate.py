"""The shipped estate, scenario files, the big-estate generator and the TLS certificates."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import httpx
import pytest

from bot.clock import FakeClock, SystemClock
from bot.simulator import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
    MFA_PASSWORD,
    MFA_TOTP_SECRET,
    MFA_USERNAME,
    Estate,
    EstateError,
    create_simulator,
    default_estate,
    load_estate,
)
from bot.simulator.generate import generate_estate
from bot.simulator.generate import main as generate_main
from bot.simulator.serve import make_certificates, run_simulator
from bot.vro.models import PlanMode, PlanType
from tests.simulator.helpers import API, FreshToken, act, runtime


def test_default_estate_is_rich_enough_for_the_demo() -> None:
    estate = default_estate()
    assert len(estate.plans) >= 6
    assert {p.planType for p in estate.plans} == set(PlanType.ALL)
    assert {p.mode for p in estate.plans} >= {PlanMode.ENABLED, PlanMode.DISABLED}
    assert estate.vm_count() >= 40
    groups = [g for p in estate.plans for g in p.groups]
    assert any(g.groupType == "VirtualGroup" and g.steps for g in groups)
    assert any(g.isParallel for g in groups)
    steps = [s for p in estate.plans for s in p.all_steps()]
    assert all(s.parameters for s in steps)
    assert any(s.outcome == "Warning" for s in steps)
    assert len(estate.scopes) >= 2
    assert len(estate.recoveryLocations) >= 3
    names = [p.name for p in estate.plans]
    assert any(" " in n for n in names)
    assert any(a != b and b.startswith(a) for a in names for b in names)  # shared prefixes
    assert {"SAP Tier1", "SAP Tier1 DR Test", "Exchange Failover", "Web Frontend"} <= set(names)


def test_default_users_match_the_exported_constants() -> None:
    users = {u.username: u for u in default_estate().users}
    assert users[DEFAULT_USERNAME].password == DEFAULT_PASSWORD
    assert users[DEFAULT_USERNAME].mfaSecret is None
    assert users[ADMIN_USERNAME].password == ADMIN_PASSWORD
    assert users[MFA_USERNAME].password == MFA_PASSWORD
    assert users[MFA_USERNAME].mfaSecret == MFA_TOTP_SECRET


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "estate.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_a_scenario_file_round_trips(tmp_path: Path) -> None:
    estate = default_estate()
    path = _write(tmp_path, estate.model_dump(mode="json"))
    assert load_estate(path) == estate


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["plans"][0].update(planType="Backup"), "planType 'Backup'"),
        (lambda d: d["plans"][0].update(state="FailoverInProgress"), "running state"),
        (lambda d: d["plans"][0].update(scopeId="nope"), "scopeId 'nope'"),
        (lambda d: d["plans"][1].update(name=d["plans"][0]["name"]), "duplicate plan name"),
        (lambda d: d["plans"][0]["groups"][0].update(groupType="VirtualGroup"), "VirtualGroup"),
        (lambda d: d["plans"][0]["groups"][0]["vms"][0]["steps"][0].update(duration=-1), "duration"),
        (lambda d: d["plans"][0].update(colour="blue"), "colour"),
        (
            lambda d: d["plans"][0].update(currentCheckResult="Success"),
            "a check result needs the time it ran",
        ),
        (
            lambda d: d["plans"][0].update(lastCheckTime="2026-11-30T08:00:00+00:00"),
            "a time needs its result",
        ),
        (
            lambda d: d["plans"][0].update(currentCheckResult="Success", lastCheckTime="2026-11-30T08:00:00"),
            "needs an offset",
        ),
    ],
)
def test_invalid_scenarios_are_refused_with_a_clear_message(
    tmp_path: Path, mutate: object, message: str
) -> None:
    data = default_estate().model_dump(mode="json")
    mutate(data)  # type: ignore[operator]
    with pytest.raises(EstateError) as caught:
        load_estate(_write(tmp_path, data))
    assert message in str(caught.value)
    assert "estate.json is not a valid estate" in str(caught.value)


def test_unreadable_or_broken_json_scenarios(tmp_path: Path) -> None:
    with pytest.raises(EstateError, match="cannot read estate file"):
        load_estate(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    with pytest.raises(EstateError, match="not valid JSON"):
        load_estate(broken)


def test_run_simulator_reports_a_bad_scenario_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        run_simulator(
            host="127.0.0.1", port=0, speed=1, scenario=str(tmp_path / "x.json"), tls=False, cert_dir=None
        )
        == 2
    )
    assert "cannot read estate file" in capsys.readouterr().err
    assert run_simulator(host="127.0.0.1", port=0, speed=0, scenario=None, tls=False, cert_dir=None) == 2


def test_generator_builds_the_requested_size_deterministically() -> None:
    estate = generate_estate(plans=2, groups=3, vms_per_group=4, steps_per_vm=5, warning_rate=0.5, seed=3)
    assert len(estate.plans) == 2
    assert estate.vm_count() == 2 * 3 * 4
    assert all(len(vm.steps) == 5 for p in estate.plans for g in p.groups for vm in g.vms)
    assert estate == generate_estate(
        plans=2, groups=3, vms_per_group=4, steps_per_vm=5, warning_rate=0.5, seed=3
    )
    assert {u.username for u in estate.users} >= {DEFAULT_USERNAME}
    with pytest.raises(ValueError, match="at least 1"):
        generate_estate(groups=0)


def test_generator_command_line_writes_a_loadable_file(tmp_path: Path) -> None:
    out = tmp_path / "big.json"
    assert generate_main(["--groups", "2", "--vms", "3", "--steps", "2", "-o", str(out)]) == 0
    assert load_estate(out).vm_count() == 6


async def test_a_benchmark_sized_estate_runs_to_completion(clock: FakeClock) -> None:
    estate = generate_estate(groups=50, vms_per_group=20, steps_per_vm=10, step_seconds=1)
    sim = create_simulator(clock=clock, estate=estate)
    plan_id = estate.plans[0].id
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim),
        base_url="http://t",
        auth=FreshToken(sim),
    ) as client:
        assert (await act(client, plan_id, "Failover")).status_code == 200
        clock.advance(1000)
        middle = await runtime(client, plan_id)
        assert 0 < middle["totalProgress"] < 100
        clock.advance(10_000)
        assert (await runtime(client, plan_id))["state"] == "FailoverComplete"
        groups = (await client.get(f"{API}/RuntimeDetails/Plans/{plan_id}/Groups")).json()
        assert groups["total"] == 50


def test_tls_certificates_verify_against_the_generated_ca(tmp_path: Path) -> None:
    """A client trusting only ca.pem completes a handshake with the server certificate (in memory)."""
    # the ssl module checks validity against the real time, so the certificates must too
    paths = make_certificates(tmp_path, ["vro.test"], now=SystemClock().now())
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(paths.certificate, paths.key)
    client = ssl.create_default_context(cafile=str(paths.ca))
    for host in ("vro.test", "localhost", "127.0.0.1"):
        _handshake(server, client, host)
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(server, client, "other.example")


def _handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, host: str) -> None:
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=host)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(10):
        for name, side, out_bio, peer_in in (
            ("client", client, c_out, s_in),
            ("server", server, s_out, c_in),
        ):
            if not done[name]:
                try:
                    side.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
            peer_in.write(out_bio.read())
        if all(done.values()):
            return
    raise AssertionError("handshake did not finish")


async def test_a_scenario_s_last_check_is_reported_with_its_time_and_a_new_check_replaces_both(
    clock: FakeClock,
) -> None:
    data = default_estate().model_dump(mode="json")
    data["plans"][0].update(currentCheckResult="Error", lastCheckTime="2026-11-30T08:00:00+00:00")
    estate = Estate.model_validate(data)
    plan_id = estate.plans[0].id
    sim = create_simulator(clock=clock, estate=estate)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim), base_url="http://t", auth=FreshToken(sim)
    ) as client:
        before = (await client.get(f"{API}/Plans/{plan_id}")).json()
        assert (before["currentCheckResult"], before["lastCheckTime"][:19]) == (
            "Error",
            "2026-11-30T08:00:00",
        )
        assert (await act(client, plan_id, "ReadinessCheck", {"generateReport": False})).status_code == 200
        for _ in range(200):
            clock.advance(5)
            if not (await runtime(client, plan_id))["isRunningState"]:
                break
        after = (await client.get(f"{API}/Plans/{plan_id}")).json()
        assert after["currentCheckResult"] in ("Success", "Warning")
        assert after["lastCheckTime"] is not None
        assert after["lastCheckTime"][:19] != "2026-11-30T08:00:00"
        assert (await runtime(client, plan_id))["currentCheckResult"] == after["currentCheckResult"]
