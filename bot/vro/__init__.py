"""Typed async client for the Veeam Recovery Orchestrator REST API (v7.21).

The public front: import from ``bot.vro``, not from its modules. ``tests/vro/test_public_api.py``
keeps ``__all__`` honest.
"""

from bot.vro.actions import ACTION_LABELS, ACTION_PARAMS, ActionResult, PlanAction, perform, validate_params
from bot.vro.auth import (
    ClientCredentialsGrant,
    Credentials,
    PasswordCredentials,
    TokenManager,
    decode_totp_secret,
    hotp,
    totp,
)
from bot.vro.client import ActionAccepted, RetryPolicy, VroClient, credentials_from_settings, tls_verify
from bot.vro.errors import (
    VroAuthError,
    VroError,
    VroMfaRequired,
    VroNotFound,
    VroRejected,
    VroUnavailable,
    VroUnexpected,
)
from bot.vro.query import Direction, Expression, F, Operator, Sort, encode_filter, encode_sort

__all__ = [
    "ACTION_LABELS",
    "ACTION_PARAMS",
    "ActionAccepted",
    "ActionResult",
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
    "VroNotFound",
    "VroRejected",
    "VroUnavailable",
    "VroUnexpected",
    "credentials_from_settings",
    "decode_totp_secret",
    "encode_filter",
    "encode_sort",
    "hotp",
    "perform",
    "tls_verify",
    "totp",
    "validate_params",
]
