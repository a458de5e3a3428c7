"""Settings: every contract variable, clear errors that name the variable, no secret leaks."""

from __future__ import annotations

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
