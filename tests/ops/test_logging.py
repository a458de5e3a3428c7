"""Logging: JSON lines on a server, readable lines on a terminal, request context, no secrets."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
import structlog

from bot.config import ConfigError, load_settings
from bot.observability.logging import (
    REDACTED,
    LoggingSetup,
    Redactor,
    bind_context,
    configure_logging,
    parse_level,
    request_context,
)
from bot.runtime import configure_logging_from_settings, secrets_from_settings

BOT_TOKEN = "xoxb-1111-2222-AbCdEfGhIjKl"
APP_TOKEN = "xapp-1-A0B1C2-3333-deadbeef"
USER_TOKEN = "xoxp-4444-5555-ZyXwVu"
ACCESS_TOKEN = "eyJhbGciOiJIUzI1NiJ9.payload.signature"
REFRESH_TOKEN = "r3fr3sh-t0k3n-value"
VRO_PASSWORD = "Corr3ct-Horse!"
CLIENT_SECRET = "AQAAANCMnd8BFdERjHoAwE"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
ALL_SECRETS = (
    BOT_TOKEN,
    APP_TOKEN,
    USER_TOKEN,
    ACCESS_TOKEN,
    REFRESH_TOKEN,
    VRO_PASSWORD,
    CLIENT_SECRET,
    SIGNING_SECRET,
)


class TtyStream(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


class Opaque:
    """An object whose repr happens to contain a registered secret."""

    def __repr__(self) -> str:
        return f"Opaque(signing={SIGNING_SECRET})"


def setup(restore: list[LoggingSetup], **kwargs: Any) -> tuple[LoggingSetup, io.StringIO]:
    stream = kwargs.pop("stream", None) or io.StringIO()
    done = configure_logging(stream=stream, **kwargs)
    restore.append(done)
    return done, stream


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def emit_every_kind_of_secret() -> None:
    """Log secrets every way the bot or a library could: message, fields, headers, bodies,
    stdlib arguments, exceptions and object reprs."""
    log = structlog.stdlib.get_logger("bot.test")
    log.info(f"connecting with {BOT_TOKEN}", app_token=APP_TOKEN)
    log.info("calling VRO", headers={"Authorization": f"Bearer {ACCESS_TOKEN}"}, user_token=[USER_TOKEN])
    log.info("token body", body=f"grant_type=refresh_token&refresh_token={REFRESH_TOKEN}&x=1")
    log.info("json body", body=json.dumps({"password": VRO_PASSWORD, "username": "vro-bot"}))
    log.info("client", client_secret=CLIENT_SECRET, thing=Opaque())
    logging.getLogger("slack_bolt.App").warning("signature check with %s failed", SIGNING_SECRET)
    try:
        raise RuntimeError(f"login failed for password={VRO_PASSWORD}")
    except RuntimeError:
        log.exception("VRO login failed")
        logging.getLogger("httpx").exception("stdlib saw it too")


def test_json_lines_carry_event_level_logger_and_timestamp(restore_logging: list[LoggingSetup]) -> None:
    _, stream = setup(restore_logging, fmt="json")
    structlog.stdlib.get_logger("bot.slack").info("command received", verb="plans")

    [line] = json_lines(stream)
    assert line["event"] == "command received"
    assert line["verb"] == "plans"
    assert line["level"] == "info"
    assert line["logger"] == "bot.slack"
    assert line["timestamp"].endswith("Z")


def test_standard_library_logs_go_through_the_same_renderer(restore_logging: list[LoggingSetup]) -> None:
    _, stream = setup(restore_logging, fmt="json")
    with request_context(request_id="req-1", user="U1"):
        logging.getLogger("slack_bolt.App").warning(
            "listener %s took %d ms", "vro", 120, extra={"kind": "ack"}
        )

    [line] = json_lines(stream)
    assert line["event"] == "listener vro took 120 ms"
    assert line["logger"] == "slack_bolt.App"
    assert line["level"] == "warning"
    assert line["request_id"] == "req-1"
    assert line["user"] == "U1"
    assert line["kind"] == "ack"


def test_request_context_binds_once_and_is_gone_after_the_block(restore_logging: list[LoggingSetup]) -> None:
    _, stream = setup(restore_logging, fmt="json")
    log = structlog.stdlib.get_logger("bot.slack")
    with request_context(user="U0OPS1", verb="failover") as request_id:
        bind_context(plan="SAP Tier1")
        log.info("request created")
    log.info("after")

    inside, after = json_lines(stream)
    assert inside["request_id"] == request_id
    assert len(request_id) == 16
    assert (inside["user"], inside["verb"], inside["plan"]) == ("U0OPS1", "failover", "SAP Tier1")
    assert not {"request_id", "user", "verb", "plan"} & after.keys()


def test_nested_request_contexts_restore_the_outer_one(restore_logging: list[LoggingSetup]) -> None:
    _, stream = setup(restore_logging, fmt="json")
    log = structlog.stdlib.get_logger("bot.slack")
    with request_context(request_id="outer", user="U1"):
        with request_context(request_id="inner"):
            log.info("inner")
        log.info("outer")

    inner, outer = json_lines(stream)
    assert (inner["request_id"], inner["user"]) == ("inner", "U1")
    assert (outer["request_id"], outer["user"]) == ("outer", "U1")


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_no_secret_reaches_the_output(fmt: str, restore_logging: list[LoggingSetup]) -> None:
    redactor = Redactor([SIGNING_SECRET, VRO_PASSWORD])
    _, stream = setup(restore_logging, fmt=fmt, redactor=redactor)

    emit_every_kind_of_secret()

    output = stream.getvalue()
    assert "VRO login failed" in output
    assert "Traceback" in output  # the exception is still there, only without the secret
    assert output.count(REDACTED) >= len(ALL_SECRETS)
    for secret in ALL_SECRETS:
        assert secret not in output, f"{secret!r} leaked in {fmt} output"


def test_console_lines_are_readable_not_json(restore_logging: list[LoggingSetup]) -> None:
    _, stream = setup(restore_logging, fmt="console")
    structlog.stdlib.get_logger("bot.watcher").info("plan finished", plan="SAP Tier1")

    text = stream.getvalue()
    assert not text.lstrip().startswith("{")
    assert "plan finished" in text
    assert "plan='SAP Tier1'" in text
    assert "[bot.watcher]" in text


def test_auto_format_picks_console_on_a_terminal_and_json_otherwise(
    restore_logging: list[LoggingSetup],
) -> None:
    on_terminal, _ = setup(restore_logging, fmt="auto", stream=TtyStream())
    in_pipe, _ = setup(restore_logging, fmt="auto", stream=io.StringIO())
    assert on_terminal.format == "console"
    assert in_pipe.format == "json"


def test_reconfiguring_replaces_the_previous_handler(restore_logging: list[LoggingSetup]) -> None:
    _, first = setup(restore_logging, fmt="json")
    _, second = setup(restore_logging, fmt="json")
    structlog.stdlib.get_logger("bot").info("once")
    assert first.getvalue() == ""
    assert len(json_lines(second)) == 1


def test_the_level_filters_both_structlog_and_stdlib(restore_logging: list[LoggingSetup]) -> None:
    _, stream = setup(restore_logging, fmt="json", level="warning")
    structlog.stdlib.get_logger("bot").info("hidden")
    logging.getLogger("slack_bolt").info("hidden too")
    structlog.stdlib.get_logger("bot").warning("shown")

    assert [line["event"] for line in json_lines(stream)] == ["shown"]


def test_chatty_libraries_are_quiet_at_info_and_speak_at_debug(restore_logging: list[LoggingSetup]) -> None:
    _, stream = setup(restore_logging, fmt="json", level="INFO")
    logging.getLogger("httpx").info("HTTP Request: GET https://vro/api/v7.21/Plans")
    assert stream.getvalue() == ""

    _, debug_stream = setup(restore_logging, fmt="json", level="DEBUG")
    logging.getLogger("httpx").info("HTTP Request: GET https://vro/api/v7.21/Plans")
    assert len(json_lines(debug_stream)) == 1


def test_restore_undoes_the_setup() -> None:
    root = logging.getLogger()
    level_before, handlers_before = root.level, list(root.handlers)
    done = configure_logging(fmt="json", level="DEBUG", stream=io.StringIO())
    done.restore()
    assert root.level == level_before
    assert root.handlers == handlers_before


@pytest.mark.parametrize(
    ("text", "level"),
    [("debug", logging.DEBUG), ("INFO", logging.INFO), ("warn", logging.WARNING), ("40", 40)],
)
def test_log_levels_are_read_case_insensitively(text: str, level: int) -> None:
    assert parse_level(text) == level


def test_an_unknown_log_level_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="VRO_BOT_LOG_LEVEL"):
        parse_level("verbose")


def test_settings_secrets_are_all_registered() -> None:
    settings = load_settings(
        {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "VRO_URL": "https://vro.test:9898",
            "VRO_USERNAME": "vro-bot",
            "VRO_PASSWORD": VRO_PASSWORD,
            "DATABASE_URL": "postgresql://bot:db-Pa55word@db:5432/vro_bot",
        }
    )
    assert set(secrets_from_settings(settings)) == {BOT_TOKEN, SIGNING_SECRET, VRO_PASSWORD, "db-Pa55word"}


def test_logging_from_settings_redacts_a_password_with_no_telltale_shape(
    restore_logging: list[LoggingSetup],
) -> None:
    settings = load_settings(
        {"VRO_PASSWORD": "plainword42", "VRO_BOT_LOG_FORMAT": "json", "VRO_BOT_LOG_LEVEL": "info"}
    )
    stream = io.StringIO()
    restore_logging.append(configure_logging_from_settings(settings, stream=stream))

    structlog.stdlib.get_logger("bot").info("oops, the password is plainword42")

    assert "plainword42" not in stream.getvalue()
    assert json_lines(stream)[0]["event"] == f"oops, the password is {REDACTED}"


def test_redactor_text_keeps_everything_else() -> None:
    redactor = Redactor()
    assert redactor.text("GET /Plans 200 in 12 ms") == "GET /Plans 200 in 12 ms"
    assert redactor.text("postgresql://bot:s3cret@db/vro") == f"postgresql://bot:{REDACTED}@db/vro"
    assert redactor.text("Authorization: Bearer abc.def") == f"Authorization: Bearer {REDACTED}"


def test_a_very_short_secret_is_not_blanked_out_of_every_word() -> None:
    """A one-letter password must not turn "missing VRO_URL" into "mi[REDACTED]..."."""
    from bot.observability.logging import Redactor

    redactor = Redactor(["s", "hunter2"])
    assert redactor.text("missing VRO_URL; password hunter2") == "missing VRO_URL; password [REDACTED]"


def test_the_advice_to_open_basic_information_is_not_taken_for_basic_auth() -> None:
    """Slack's settings page "Basic Information" is named in the advice for a refused app token
    (the log and /readyz); it read "Basic [REDACTED] → App-Level Tokens"."""
    from bot.slack.connection import REISSUE_APP_ADVICE, WRONG_TYPE_ADVICE

    redactor = Redactor()
    assert redactor.text(REISSUE_APP_ADVICE) == REISSUE_APP_ADVICE
    assert redactor.text(WRONG_TYPE_ADVICE) == WRONG_TYPE_ADVICE
    assert redactor.text("Authorization: Basic dXNlcjpwYXNz") == f"Authorization: Basic {REDACTED}"
    assert redactor.text("Authorization: Basic information") == f"Authorization: Basic {REDACTED}"
