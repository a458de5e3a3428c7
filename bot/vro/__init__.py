"""Typed async client for the Veeam Recovery Orchestrator REST API (v7.21 to v13.x).

The public front: import from ``bot.vro``, not from its modules. ``tests/vro/test_public_api.py``
keeps ``__all__`` honest.

The names load on first use (PEP 562), so importing a light module of this package
(``bot.vro.plan_states``, ``bot.vro.models``) does not load httpx and the client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what mypy sees; at run time __getattr__ below imports on first use
    from bot.vro.actions import (
        ACTION_LABELS,
        ACTION_PARAMS,
        ActionResult,
        PlanAction,
        perform,
        validate_params,
    )
    from bot.vro.auth import (
        ClientCredentialsGrant,
        Credentials,
        PasswordCredentials,
        TokenManager,
        mfa_passcode,
    )
    from bot.vro.client import ActionAccepted, RetryPolicy, VroClient, tls_verify
    from bot.vro.errors import (
        VroAuthError,
        VroError,
        VroMfaRequired,
        VroNotAvailable,
        VroNotFound,
        VroOutcomeUnknown,
        VroRejected,
        VroUnavailable,
        VroUnexpected,
    )
    from bot.vro.operations import ACTIONS, AUTO, ActionSpec, spec_of
    from bot.vro.query import Direction, Expression, F, Operator, Sort, encode_filter, encode_sort

# the modules behind the names, lightest first (a name is looked up in each until found)
_MODULES = ("errors", "query", "operations", "auth", "client", "actions")


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    for module in _MODULES:
        home = importlib.import_module(f"{__name__}.{module}")
        if hasattr(home, name):
            value = getattr(home, name)
            globals()[name] = value
            return value
    raise AttributeError(f"module {__name__!r} lists {name!r} but none of its modules defines it")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


__all__ = [
    "ACTIONS",
    "ACTION_LABELS",
    "ACTION_PARAMS",
    "AUTO",
    "ActionAccepted",
    "ActionResult",
    "ActionSpec",
    "ClientCredentialsGrant",
    "Credentials",
    "Direction",
    "Expression",
    "F",
    "Operator",
    "PasswordCredentials",
    "PlanAction",
    "RetryPolicy",
    "Sort",
    "TokenManager",
    "VroAuthError",
    "VroClient",
    "VroError",
    "VroMfaRequired",
    "VroNotAvailable",
    "VroNotFound",
    "VroOutcomeUnknown",
    "VroRejected",
    "VroUnavailable",
    "VroUnexpected",
    "encode_filter",
    "encode_sort",
    "mfa_passcode",
    "perform",
    "spec_of",
    "tls_verify",
    "validate_params",
]
