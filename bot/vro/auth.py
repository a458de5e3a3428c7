"""Logging in to VRO and keeping a valid access token.

:class:`TokenManager` talks to ``POST {base}/api/token`` (form-encoded, not versioned):

* logs in lazily, on the first call that needs a token;
* refreshes ahead of expiry (:data:`DEFAULT_REFRESH_MARGIN_SECONDS` before it) and once when VRO
  answers 401 to a token it gave us;
* logs in afresh when VRO refuses the refresh token;
* lets exactly one login or refresh run at a time: every caller waiting meanwhile gets its result;
* answers VRO's MFA challenge (a ``mfa_token`` instead of tokens, in a 200 or in an error body)
  with a TOTP passcode computed by ``pyotp`` from ``VRO_MFA_SECRET``, or fails with
  :class:`VroMfaRequired` saying so.

Passwords, client secrets, MFA secrets and tokens never appear in reprs, logs or error texts.
"""

from __future__ import annotations

import asyncio
import binascii
import logging
import math
from dataclasses import dataclass, field
from typing import Final

import httpx
import pydantic
import pyotp

from bot.clock import Clock
from bot.vro.errors import VroAuthError, VroMfaRequired, VroUnavailable, VroUnexpected, as_clause
from bot.vro.models import TokenResponse

log = logging.getLogger(__name__)

TOKEN_PATH: Final = "/api/token"  # noqa: S105 - a path, not a secret
DEFAULT_REFRESH_MARGIN_SECONDS: Final = 60.0
TOTP_STEP_SECONDS: Final = 30
TOTP_DIGITS: Final = 6


# --- credentials ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PasswordCredentials:
    """A VRO user account (``grant_type=password``), optionally with its TOTP secret (base32)."""

    username: str
    password: str = field(repr=False)
    mfa_secret: str | None = field(default=None, repr=False)

    def describe(self) -> str:
        return f"user {self.username!r}"


@dataclass(frozen=True, slots=True)
class ClientCredentialsGrant:
    """A VRO API client registration (``grant_type=client_credentials``)."""

    client_id: str
    client_secret: str = field(repr=False)

    def describe(self) -> str:
        return f"API client {self.client_id!r}"


Credentials = PasswordCredentials | ClientCredentialsGrant


# --- TOTP (pyotp) ----------------------------------------------------------------------------


def mfa_passcode(secret: str, unix_time: float) -> str:
    """The 6-digit TOTP passcode (RFC 6238, SHA-1, 30 s) of a base32 ``secret`` at ``unix_time``.

    Accepts the secret as authenticator apps and VRO's ``mfaKey`` show it (spaces, any case).
    :class:`ValueError` names the problem without quoting the secret.
    """
    cleaned = "".join(secret.split()).upper().rstrip("=")
    if not cleaned:
        raise ValueError("the MFA secret is empty")
    try:
        return pyotp.TOTP(cleaned, digits=TOTP_DIGITS, interval=TOTP_STEP_SECONDS).at(int(unix_time))
    except (binascii.Error, ValueError):
        # The secret itself must not appear in the message.
        raise ValueError("the MFA secret is not valid base32 (letters A-Z and digits 2-7)") from None


# --- the token manager ----------------------------------------------------------------------


class _TokenRefused(Exception):
    """The token endpoint refused a grant (400 / 401); ``reason`` is VRO's text, if any."""

    def __init__(self, status: int, reason: str | None) -> None:
        super().__init__(status)
        self.status = status
        self.reason = reason

    def auth_error(self, refused: str, check: str) -> VroAuthError:
        """``VRO refused {refused}{: VRO's reason}. {check}`` as the token endpoint's auth error."""
        return VroAuthError(
            f"VRO refused {refused}{as_clause(self.reason)}. {check}",
            method="POST",
            path=TOKEN_PATH,
            status=self.status,
            vro_message=self.reason,
        )


@dataclass(slots=True)
class _Tokens:
    access: str = field(repr=False)
    refresh: str | None = field(repr=False)
    renew_at: float  # on the clock's monotonic scale; math.inf when VRO gave no lifetime


class TokenManager:
    """Holds VRO's token pair and renews it; one login or refresh in flight at a time."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        credentials: Credentials,
        clock: Clock,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN_SECONDS,
    ) -> None:
        self._http = http
        self._credentials = credentials
        self._clock = clock
        self._refresh_margin = refresh_margin
        self._tokens: _Tokens | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"TokenManager({self._credentials.describe()}, logged_in={self._tokens is not None})"

    async def access_token(self) -> str:
        """A token good for at least the refresh margin; logs in or refreshes if needed."""
        tokens = self._tokens
        if tokens is not None and self._fresh(tokens):
            return tokens.access
        async with self._lock:
            # Whoever held the lock before us may have renewed the token already.
            tokens = self._tokens
            if tokens is not None and self._fresh(tokens):
                return tokens.access
            return await self._renew_locked()

    async def token_rejected(self, token: str) -> str:
        """VRO answered 401 to ``token``: renew it once (unless someone already has)."""
        async with self._lock:
            tokens = self._tokens
            if tokens is not None and tokens.access != token and self._fresh(tokens):
                return tokens.access
            if tokens is not None:
                tokens.renew_at = -math.inf  # force a refresh
            return await self._renew_locked()

    def _fresh(self, tokens: _Tokens) -> bool:
        return self._clock.monotonic() < tokens.renew_at

    async def _renew_locked(self) -> str:
        tokens = self._tokens
        if tokens is not None and tokens.refresh:
            try:
                answer = await self._grant({"grant_type": "refresh_token", "refresh_token": tokens.refresh})
            except _TokenRefused:
                log.info("VRO refused the refresh token; logging in again")
            else:
                log.info("refreshed the VRO access token")
                return self._store(answer, "refresh_token")
        self._tokens = None
        return self._store(await self._login(), "login")

    async def _login(self) -> TokenResponse:
        creds = self._credentials
        if isinstance(creds, ClientCredentialsGrant):
            form = {
                "grant_type": "client_credentials",
                "client_id": creds.client_id,
                "client_secret": creds.client_secret,
            }
        else:
            form = {"grant_type": "password", "username": creds.username, "password": creds.password}
        try:
            answer = await self._grant(form)
        except _TokenRefused as refused:
            raise self._login_refused(refused) from None
        if answer.access_token is None and answer.mfa_token:
            answer = await self._answer_mfa(answer.mfa_token)
        log.info("logged in to VRO as %s", creds.describe())
        return answer

    async def _answer_mfa(self, mfa_token: str) -> TokenResponse:
        creds = self._credentials
        secret = creds.mfa_secret if isinstance(creds, PasswordCredentials) else None
        if not secret:
            raise VroMfaRequired(
                f"VRO requires an MFA passcode for {creds.describe()}. Set VRO_MFA_SECRET to the "
                "account's TOTP secret (base32) so the bot can log in.",
                method="POST",
                path=TOKEN_PATH,
                status=200,
            )
        try:
            passcode = mfa_passcode(secret, self._clock.now().timestamp())
        except ValueError as exc:
            raise VroMfaRequired(
                f"VRO_MFA_SECRET cannot be used: {exc}.", method="POST", path=TOKEN_PATH
            ) from None
        try:
            return await self._grant({"grant_type": "mfa", "mfa_token": mfa_token, "mfa_passcode": passcode})
        except _TokenRefused as refused:
            raise refused.auth_error(
                f"the MFA passcode for {creds.describe()}",
                "Check VRO_MFA_SECRET and that this machine's clock is right.",
            ) from None

    def _login_refused(self, refused: _TokenRefused) -> VroAuthError:
        creds = self._credentials
        variables = (
            "VRO_CLIENT_ID and VRO_CLIENT_SECRET"
            if isinstance(creds, ClientCredentialsGrant)
            else "VRO_USERNAME and VRO_PASSWORD"
        )
        return refused.auth_error(f"the bot's login as {creds.describe()}", f"Check {variables}.")

    def _store(self, answer: TokenResponse, grant: str) -> str:
        if not answer.access_token:
            raise VroUnexpected(
                f"VRO's token endpoint answered the {grant} grant without an access token.",
                method="POST",
                path=TOKEN_PATH,
                status=200,
            )
        lifetime = answer.expires_in
        if lifetime is None:
            renew_at = math.inf  # rely on the 401 then
        else:
            # Renew a margin ahead of expiry, but never spend more than half a short lifetime.
            renew_at = self._clock.monotonic() + lifetime - min(self._refresh_margin, lifetime / 2)
        self._tokens = _Tokens(access=answer.access_token, refresh=answer.refresh_token, renew_at=renew_at)
        return answer.access_token

    async def _grant(self, form: dict[str, str]) -> TokenResponse:
        """One call to the token endpoint. The form holds secrets: it is never logged or quoted."""
        grant = form["grant_type"]
        try:
            response = await self._http.post(TOKEN_PATH, data=form)
        except httpx.TimeoutException:
            raise self._unavailable("timed out") from None
        except httpx.TransportError as exc:
            raise self._unavailable(transport_problem(exc)) from None
        status = response.status_code
        reason = vro_message_of(response)
        if status in (400, 401):
            challenge = _mfa_challenge(response)
            if challenge is not None and grant != "mfa":
                # Some servers answer an MFA user's password grant with an error that carries
                # the mfa_token: it is the same challenge as a 200 with one [INF].
                return TokenResponse(mfa_token=challenge)
            raise _TokenRefused(status, reason)
        if status >= 500 or status == 429:
            raise self._unavailable(f"HTTP {status}", status=status, reason=reason)
        if status != 200:
            raise VroUnexpected(
                f"VRO's token endpoint answered HTTP {status} to the {grant} grant.",
                method="POST",
                path=TOKEN_PATH,
                status=status,
                vro_message=reason,
            )
        try:
            return TokenResponse.model_validate_json(response.content)
        except pydantic.ValidationError:
            raise VroUnexpected(
                f"VRO's token endpoint sent something that is not a token answer ({body_kind(response)}).",
                method="POST",
                path=TOKEN_PATH,
                status=status,
            ) from None

    @staticmethod
    def _unavailable(detail: str, *, status: int | None = None, reason: str | None = None) -> VroUnavailable:
        return VroUnavailable(
            f"VRO did not answer the bot's login ({detail}). Try again in a minute.",
            method="POST",
            path=TOKEN_PATH,
            status=status,
            vro_message=reason,
        )


# --- small helpers shared with the client ---------------------------------------------------

MAX_VRO_MESSAGE_CHARS: Final = 1000
_MESSAGE_KEYS: Final = ("message", "error_description", "errors", "error")
_GENERIC_MESSAGE: Final = "an error has occurred."  # ASP.NET's text when details are hidden


def _text_of(value: object) -> str | None:
    """A message from a string, a list of them, or ASP.NET's ``{field: [messages]}``."""
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, list):
        parts = [text for item in value if (text := _text_of(item))]
        return "; ".join(parts) or None
    if isinstance(value, dict):
        inner = _message_in(value)
        if inner:
            return inner
        parts = [f"{key}: {text}" if key else text for key, item in value.items() if (text := _text_of(item))]
        return "; ".join(parts) or None
    return None


def _message_in(body: dict[str, object]) -> str | None:
    by_key = {str(key).lower(): value for key, value in body.items()}
    for key in _MESSAGE_KEYS:
        text = _text_of(by_key.get(key))
        if text is None:
            continue
        # {"Message": "An error has occurred.", "ExceptionMessage": "..."}: the detail says more.
        if text.strip().lower() == _GENERIC_MESSAGE and (detail := _text_of(by_key.get("exceptionmessage"))):
            return detail
        # OAuth: {"error": "invalid_grant", "error_description": "..."} prefers the description.
        return text
    return None


def vro_message_of(response: httpx.Response) -> str | None:
    """VRO's own explanation in an error body, verbatim (whitespace folded; very long ones cut).

    Looks for ``Message`` / ``message`` / ``error_description`` / ``errors`` / ``error`` in any
    casing; ``errors`` may be a list or ASP.NET's ``{field: [messages]}``.
    """
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, str):
        text: str | None = body if body.strip() else None
    elif isinstance(body, dict):
        text = _message_in(body)
    else:
        text = None
    if text is None:
        return None
    text = " ".join(text.split())
    if len(text) > MAX_VRO_MESSAGE_CHARS:
        text = text[: MAX_VRO_MESSAGE_CHARS - 1] + "…"
    return text


def _mfa_challenge(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    for key, value in body.items():
        if str(key).lower() in ("mfa_token", "mfatoken") and isinstance(value, str) and value:
            return value
    return None


def body_kind(response: httpx.Response) -> str:
    """A short, secret-free description of a body we could not use."""
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if not response.content:
        return "an empty body"
    first = response.content.lstrip()[:1]
    if "html" in content_type or first == b"<":
        return "an HTML page"
    if first in (b"{", b"["):
        return "malformed JSON"
    if content_type and "json" not in content_type:
        return f"a {content_type} body"
    return "malformed JSON"


def transport_problem(exc: httpx.TransportError) -> str:
    """What went wrong on the wire, in words (never the URL or headers)."""
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    text = repr(exc.__cause__ or exc.__context__ or exc) + str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return "its TLS certificate is not trusted: set VRO_CA_BUNDLE to its CA file"
    if isinstance(exc, httpx.ConnectError):
        return "could not connect"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the connection was dropped"
    return "network error"
