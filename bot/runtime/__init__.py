"""The composition root: the only package that knows every part, reads Settings and wires them.

``build_bot`` (:mod:`.wiring`) turns :class:`~bot.config.Settings` into a :class:`Bot`
(:mod:`.lifecycle`: its background tasks and orderly stop); ``run`` (:mod:`.serve`) and
``check`` (:mod:`.check_command`) are the CLI's entry points; :mod:`.from_settings` maps the
environment's variables to the objects they configure.
"""

from bot.runtime.check_command import check, configuration_check
from bot.runtime.from_settings import (
    configure_logging_from_settings,
    load_configured_policy,
    secret,
    secrets_from_settings,
    vro_client_from,
    vro_credentials_from,
    watcher_config_from,
)
from bot.runtime.lifecycle import Bot
from bot.runtime.serve import listeners, run
from bot.runtime.wiring import build_bot

__all__ = [
    "Bot",
    "build_bot",
    "check",
    "configuration_check",
    "configure_logging_from_settings",
    "listeners",
    "load_configured_policy",
    "run",
    "secret",
    "secrets_from_settings",
    "vro_client_from",
    "vro_credentials_from",
    "watcher_config_from",
]
