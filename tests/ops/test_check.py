"""``vro-bot check``: a verdict per dependency, what is wrong and what to do, and the exit code."""

from __future__ import annotations

import asyncio
import io

import pytest

from bot.clock import FakeClock
from bot.config import load_settings
from bot.observability.check import (
    ALL_PASSED,
    CONFIG_ADVICE,
    CheckFailed,
    DependencyCheck,
    Verdict,
    format_report,
    run_check_command,
    run_checks,
)
from bot.observability.logging import REDACTED, Redactor
from bot.runtime import configuration_check

VRO_ADVICE = "Check VRO_URL, and that the account holds a VRO role."
DB_ADVICE = "Check DATABASE_URL and run vro-bot db upgrade."
SLACK_ADVICE = "Check SLACK_BOT_TOKEN."


def passing(detail: str | None) -> DependencyCheck:
    async def run() -> str | None:
        return detail

    return DependencyCheck(name="database", run=run, advice=DB_ADVICE)


def check(
    name: str, *, result: str | Exception, advice: str = "Fix it.", requires: tuple[str, ...] = ()
) -> DependencyCheck:
    async def run() -> str:
        if isinstance(result, Exception):
            raise result
        return result

    return DependencyCheck(name=name, run=run, advice=advice, requires=requires)


COMPLETE_ENV = {
    "SLACK_BOT_TOKEN": "xoxb-1-2-abc",
    "SLACK_APP_TOKEN": "xapp-1-2-def",
    "VRO_URL": "https://vro.test:9898",
    "VRO_USERNAME": "vro-bot",
    "VRO_PASSWORD": "vro-bot-demo",
}


async def test_all_passing_checks_give_exit_code_zero_and_a_ready_verdict() -> None:
    out = io.StringIO()
    code = await run_check_command(
        [
            check("configuration", result="complete (Socket Mode)"),
            check("database", result="at revision 0002 (head)"),
        ],
        out=out,
    )

    assert code == 0
    assert out.getvalue() == (
        "vro-bot check\n"
        "  ✓ configuration  complete (Socket Mode)\n"
        "  ✓ database       at revision 0002 (head)\n"
        "\n"
        "All 2 checks passed: the bot is ready to run.\n"
    )


async def test_a_refused_login_is_named_with_what_to_do_and_exit_code_one() -> None:
    out = io.StringIO()
    code = await run_check_command(
        [
            check("configuration", result="complete (HTTP mode on 0.0.0.0:3000)"),
            check(
                "VRO",
                result=CheckFailed(
                    "VRO refused the credentials (401 Unauthorized)",
                    advice="Check VRO_USERNAME and VRO_PASSWORD.",
                ),
                advice=VRO_ADVICE,
            ),
            check("Slack", result="authenticated as @vro-bot in Acme"),
        ],
        out=out,
    )

    assert code == 1
    assert out.getvalue() == (
        "vro-bot check\n"
        "  ✓ configuration  complete (HTTP mode on 0.0.0.0:3000)\n"
        "  ✗ VRO            VRO refused the credentials (401 Unauthorized)\n"
        "                   → Check VRO_USERNAME and VRO_PASSWORD.\n"
        "  ✓ Slack          authenticated as @vro-bot in Acme\n"
        "\n"
        "1 of 3 checks did not pass: fix the items marked ✗ and run vro-bot check again.\n"
    )


async def test_an_unexpected_error_is_reported_with_the_checks_default_advice() -> None:
    report = await run_checks(
        [check("database", result=ConnectionRefusedError("connection refused"), advice=DB_ADVICE)]
    )

    result = report.result("database")
    assert result.verdict is Verdict.FAILED
    assert result.detail == "ConnectionRefusedError: connection refused"
    assert result.advice == DB_ADVICE
    assert report.exit_code == 1


async def test_checks_that_need_a_failed_one_are_skipped_not_failed_twice() -> None:
    settings = load_settings({})
    report = await run_checks(
        [
            configuration_check(settings),
            check("VRO", result="OK", requires=("configuration",)),
            check("Slack", result="OK", requires=("configuration",)),
            check("database", result="at head"),
        ]
    )

    assert [r.verdict for r in report.results] == [
        Verdict.FAILED,
        Verdict.SKIPPED,
        Verdict.SKIPPED,
        Verdict.PASSED,
    ]
    assert report.result("VRO").detail == "not checked, because configuration did not pass"
    assert report.exit_code == 1
    assert "  – VRO" in format_report(report)


async def test_a_missing_variable_is_named_by_the_configuration_check() -> None:
    env = {k: v for k, v in COMPLETE_ENV.items() if k != "VRO_URL"}
    report = await run_checks([configuration_check(load_settings(env))])

    result = report.result("configuration")
    assert result.verdict is Verdict.FAILED
    assert result.detail == "missing VRO_URL"
    assert result.advice == CONFIG_ADVICE


async def test_nothing_configured_names_every_missing_variable() -> None:
    report = await run_checks([configuration_check(load_settings({}))])
    assert report.result("configuration").detail == (
        "missing SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, VRO_URL, "
        "VRO_USERNAME/VRO_PASSWORD or VRO_CLIENT_ID/VRO_CLIENT_SECRET"
    )


@pytest.mark.parametrize(
    ("extra", "detail"),
    [
        ({}, "complete (Socket Mode)"),
        (
            {"SLACK_APP_TOKEN": "", "SLACK_SIGNING_SECRET": "s3cr3t", "VRO_BOT_HTTP_PORT": "8080"},
            "complete (HTTP mode on 0.0.0.0:8080)",
        ),
    ],
)
async def test_a_complete_configuration_passes_and_says_which_mode(
    extra: dict[str, str], detail: str
) -> None:
    report = await run_checks([configuration_check(load_settings({**COMPLETE_ENV, **extra}))])
    assert report.result("configuration").verdict is Verdict.PASSED
    assert report.result("configuration").detail == detail


async def test_a_hung_dependency_fails_at_its_deadline() -> None:
    never = asyncio.Event()

    async def hangs() -> str:
        await never.wait()
        return "unreachable"

    # A zero deadline expires on the event loop's next turn: nothing waits for real time.
    report = await run_checks([DependencyCheck("VRO", hangs, VRO_ADVICE)], check_timeout=0)

    assert report.result("VRO").detail == "no answer within 0 s"
    assert report.result("VRO").advice == VRO_ADVICE


async def test_durations_come_from_the_injected_clock(clock: FakeClock) -> None:
    async def slow() -> str:
        clock.advance(2.0)
        return "OK"

    report = await run_checks([DependencyCheck("Slack", slow, SLACK_ADVICE)], clock=clock)
    assert report.result("Slack").seconds == 2.0


async def test_secrets_never_reach_the_report() -> None:
    report = await run_checks(
        [
            check("Slack", result=RuntimeError("auth.test failed for xoxb-999-888-secret")),
            check(
                "VRO",
                result=CheckFailed(
                    "login as vro-bot with Sup3rS3cret refused", advice="password=Sup3rS3cret is wrong"
                ),
            ),
        ],
        redactor=Redactor(["Sup3rS3cret"]),
    )

    text = format_report(report)
    assert "xoxb-999-888-secret" not in text
    assert "Sup3rS3cret" not in text
    assert text.count(REDACTED) == 3


async def test_a_terminal_without_unicode_gets_ascii_marks() -> None:
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="ascii")
    code = await run_check_command(
        [
            check("configuration", result="complete"),
            check("VRO", result=CheckFailed("refused", advice="Check it.")),
        ],
        out=out,
    )

    text = raw.getvalue().decode("ascii")
    assert code == 1
    assert "  OK   configuration  complete" in text
    assert "  FAIL VRO            refused" in text
    assert "-> Check it." in text


async def test_a_successful_check_without_detail_says_ok() -> None:
    report = await run_checks([passing(None)])
    assert report.result("database").detail == "OK"
    assert format_report(report).endswith(ALL_PASSED.format(total=1) + "\n")


async def test_check_names_must_be_unique() -> None:
    with pytest.raises(ValueError, match="unique"):
        await run_checks([passing("a"), passing("b")])


async def test_several_problems_line_up_under_their_check() -> None:
    report = await run_checks(
        [check("policy", result=CheckFailed("a: must be a number\nb: unknown key", advice="Fix it."))]
    )
    lines = format_report(report).splitlines()
    assert lines[1] == "  ✗ policy  a: must be a number"
    assert lines[2] == " " * len("  ✗ policy  ") + "b: unknown key"
    assert lines[3] == " " * len("  ✗ policy  ") + "→ Fix it."


async def test_an_admin_host_that_would_share_the_http_port_fails_the_configuration_check() -> None:
    """`vro-bot run` would stop at its second bind; `check` says so first."""
    env = {
        **COMPLETE_ENV,
        "SLACK_APP_TOKEN": "",
        "SLACK_SIGNING_SECRET": "s3cr3t",
        "VRO_BOT_ADMIN_HOST": "127.0.0.1",
    }
    report = await run_checks([configuration_check(load_settings(env))])
    result = report.result("configuration")
    assert result.verdict is Verdict.FAILED
    assert "set VRO_BOT_ADMIN_PORT too" in result.detail
