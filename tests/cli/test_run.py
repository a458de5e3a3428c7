"""``vro-bot run`` refuses a bad configuration before it starts anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from tests.cli.conftest import SetEnv


def run_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A complete configuration whose database cannot be opened and whose VRO does not listen:
    if ``run`` got as far as starting, it would fail on those instead of on what the test checks."""
    return {
        "SLACK_BOT_TOKEN": "xoxb-cli-run",
        "SLACK_SIGNING_SECRET": "cli-run-signing-secret",
        "SLACK_API_URL": "http://127.0.0.1:9/api/",
        "VRO_URL": "http://127.0.0.1:9",
        "VRO_USERNAME": "vro-bot",
        "VRO_PASSWORD": "cli-run-password",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'no-such-folder' / 'bot.db'}",
        "VRO_BOT_HTTP_HOST": "127.0.0.1",
        **extra,
    }


@pytest.mark.parametrize(
    ("policy", "problem"),
    [
        ("roles:\n  viewer: {users: ['*']}\nactoins: {}\n", "actoins: unknown key"),
        ("actions:\n  failovr: {approvals: 2}\n", "actions.failovr: unknown verb"),
        ("defaults: {approvals: -1}\n", "defaults.approvals: must be at least 0"),
        ("roles: [\n", "not valid YAML"),
        (None, "cannot read it"),
    ],
)
def test_run_with_an_invalid_policy_exits_2_naming_the_problem(
    cli_env: SetEnv, tmp_path: Path, capsys: pytest.CaptureFixture[str], policy: str | None, problem: str
) -> None:
    path = tmp_path / "policy.yml"
    if policy is not None:
        path.write_text(policy, encoding="utf-8")
    cli_env(run_env(tmp_path, VRO_BOT_POLICY=str(path)))

    assert main(["run"]) == 2

    captured = capsys.readouterr()
    assert captured.err.startswith(f"vro-bot: policy file {path}: ")
    assert problem in captured.err
    assert "Traceback" not in captured.err
    assert captured.out == ""  # no log line: nothing was started


def test_run_names_every_missing_variable(
    cli_env: SetEnv, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = run_env(tmp_path)
    del env["VRO_URL"], env["SLACK_SIGNING_SECRET"]
    cli_env(env)
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert "SLACK_SIGNING_SECRET" in err
    assert "VRO_URL" in err
