"""Errors shared across layers, kept in a module that imports nothing.

:class:`ConfigError` lives here rather than in :mod:`bot.config` so that pure modules (the policy
file's loader, the schema check) can raise it without loading pydantic-settings.
"""

from __future__ import annotations


class ConfigError(Exception):
    """The configuration is missing or malformed; the message names the variable(s)."""
