"""Settings: every contract variable, clear errors that name the variable, no secret leaks."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings


def test_defaults_match_the_contract() -> None:
    s = load_settings({})
    assert s.slack_api_url == "https://slack.com/api/"
    assert s.vro_api_version == "auto"
    assert s.vro_timezone == "UTC"
    assert s.database_url == "sqlite:///./vro-bot.db"
    assert (s.vro_bot_http_host, s.vro_bot_http_port) == ("0.0.0.0", 3000)  # noqa: S104
    assert s.vro_bot_poll_seconds == 5
    assert s.vro_verify_tls is True
    assert not s.socket_mode


def test_a_bad_vro_url_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="VRO_URL"):
        load_settings({"VRO_URL": "vro.corp.local"})


def test_a_malformed_bot_token_names_the_variable_but_not_the_value() -> None:
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN") as info:
        load_settings({"SLACK_BOT_TOKEN": "not-a-token-s3cr3t"})
    assert "s3cr3t" not in str(info.value)


def test_run_names_every_missing_variable() -> None:
    s = load_settings({"SLACK_BOT_TOKEN": "xoxb-1"})
    with pytest.raises(ConfigError) as info:
        s.require_for_run()
    text = str(info.value)
    assert "SLACK_SIGNING_SECRET" in text
    assert "VRO_URL" in text
    assert "SLACK_BOT_TOKEN" not in text


def test_app_token_selects_socket_mode_and_waives_the_signing_secret() -> None:
    s = load_settings(
        {
            "SLACK_BOT_TOKEN": "xoxb-1",
            "SLACK_APP_TOKEN": "xapp-1",
            "VRO_URL": "http://127.0.0.1:9898/",
            "VRO_CLIENT_ID": "C",
            "VRO_CLIENT_SECRET": "S",
        }
    )
    assert s.socket_mode
    assert s.vro_url == "http://127.0.0.1:9898"
    s.require_for_run()


def test_secrets_do_not_show_in_repr() -> None:
    s = load_settings({"VRO_PASSWORD": "hunter2", "SLACK_SIGNING_SECRET": "sig-secret"})
    assert "hunter2" not in repr(s)
    assert "sig-secret" not in repr(s)


EMPTY_MEANS_UNSET = {
    "VRO_BOT_ADMIN_PORT": None,
    "VRO_BOT_HTTP_PORT": 3000,
    "VRO_BOT_POLICY": None,
    "VRO_CA_BUNDLE": None,
    "VRO_API_VERSION": "auto",
    "VRO_VERIFY_TLS": True,
}


def test_an_empty_variable_in_the_environment_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """A template or an env file that fills in nothing (`VRO_BOT_ADMIN_PORT=`) gets the default,
    not "not an integer", a policy file named "." or a CA bundle that is a directory."""
    for name in EMPTY_MEANS_UNSET:
        monkeypatch.setenv(name, "")
    s = load_settings(env_file=None)
    for name, default in EMPTY_MEANS_UNSET.items():
        assert getattr(s, name.lower()) == default, name


def test_an_empty_variable_in_dot_env_counts_as_unset(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{name}=\n" for name in EMPTY_MEANS_UNSET))
    s = load_settings(env_file=str(env_file))
    for name, default in EMPTY_MEANS_UNSET.items():
        assert getattr(s, name.lower()) == default, name


def test_an_empty_value_in_an_explicit_mapping_counts_as_unset() -> None:
    s = load_settings(dict.fromkeys(EMPTY_MEANS_UNSET, ""))
    for name, default in EMPTY_MEANS_UNSET.items():
        assert getattr(s, name.lower()) == default, name


HTTP_MODE = {
    "SLACK_BOT_TOKEN": "xoxb-1",
    "SLACK_SIGNING_SECRET": "sig",
    "VRO_URL": "http://127.0.0.1:9898",
    "VRO_USERNAME": "u",
    "VRO_PASSWORD": "p",
}


def test_an_admin_host_without_its_own_port_is_refused_before_run_binds_twice() -> None:
    """VRO_BOT_ADMIN_HOST=127.0.0.1 alone put /healthz on 127.0.0.1:3000 next to 0.0.0.0:3000:
    `vro-bot run` died with 'Address already in use' (exit 3) while `vro-bot check` passed."""
    s = load_settings({**HTTP_MODE, "VRO_BOT_ADMIN_HOST": "127.0.0.1"})
    with pytest.raises(ConfigError, match="set VRO_BOT_ADMIN_PORT too"):
        s.require_for_run()


@pytest.mark.parametrize(
    "extra",
    [
        {"VRO_BOT_ADMIN_HOST": "127.0.0.1", "VRO_BOT_ADMIN_PORT": "9100"},
        {"VRO_BOT_ADMIN_PORT": "9100"},
        {"VRO_BOT_HTTP_HOST": "10.0.0.5", "VRO_BOT_ADMIN_HOST": "127.0.0.1"},  # two addresses, one port
        {"VRO_BOT_ADMIN_HOST": "0.0.0.0", "VRO_BOT_ADMIN_PORT": "3000"},  # noqa: S104 - the one listener
        {"SLACK_APP_TOKEN": "xapp-1", "VRO_BOT_ADMIN_HOST": "127.0.0.1"},  # Socket Mode: one listener
    ],
)
def test_admin_listeners_that_can_listen_are_accepted(extra: dict[str, str]) -> None:
    s = load_settings({**HTTP_MODE, **extra})
    assert s.listener_conflict() is None
    s.require_for_run()
