"""Errors raised by the VRO client.

One tree, in the spirit of httpx's::

    VroError                      every failure talking to VRO
    ├── VroUnavailable            network error, timeout, 502 / 503 / 504 / 429: VRO unreachable
    │   └── VroOutcomeUnknown     the connection failed while an action was being sent
    ├── VroAuthError              401, or the token endpoint refused the credentials
    │   └── VroMfaRequired        the account needs an MFA passcode and no secret is configured
    ├── VroNotFound               404: the plan / group / VM / step does not exist
    ├── VroRejected               VRO said no in words (any status with a message), or 400 / 409
    ├── VroNotAvailable           the server's API version lacks the operation (nothing sent)
    └── VroUnexpected             anything else: an HTML page, malformed JSON, a bare 500

Every error carries the HTTP method, the path (never the host's credentials or tokens), the
status when there was a response, and VRO's own message (``Message``, ``message``, ``error``,
``errors``, ``error_description``, in any casing), verbatim. ``str(error)`` is written for the
person who will read it in Slack.
"""

from __future__ import annotations


def as_clause(reason: str | None) -> str:
    """VRO's ``reason`` as a clause (": <reason>") without its own full stop, for our sentence to end."""
    stripped = (reason or "").strip().rstrip(".")
    return f": {stripped}" if stripped else ""


class VroError(Exception):
    """Base class of every VRO client error."""

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        path: str = "",
        status: int | None = None,
        vro_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.path = path
        self.status = status
        self.vro_message = vro_message

    def __str__(self) -> str:
        return self.message


class VroUnavailable(VroError):
    """VRO could not be reached or answered with a 5xx; retrying later may help."""


class VroAuthError(VroError):
    """VRO refused our credentials or token."""


class VroMfaRequired(VroAuthError):
    """The account has MFA enabled and no ``VRO_MFA_SECRET`` is configured."""


class VroNotFound(VroError):
    """The resource does not exist (404)."""


class VroRejected(VroError):
    """VRO refused the request: illegal state for this action, or a bad request (400 / 409)."""


class VroUnexpected(VroError):
    """VRO answered something we cannot interpret (HTML, malformed JSON, odd status)."""


class VroNotAvailable(VroError):
    """The server's API version lacks this operation; nothing was sent."""


class VroOutcomeUnknown(VroUnavailable):
    """The connection failed while an action was being sent: VRO may or may not have started it."""
