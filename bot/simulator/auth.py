"""Tokens, users, API clients and MFA, the way VRO's ``/api/token`` hands them out.

Grants: ``password`` (an MFA user gets an ``mfa_token`` instead of tokens), ``mfa``
(``mfa_token`` + 6-digit TOTP ``mfa_passcode``), ``refresh_token`` (rotates the pair) and
``client_credentials`` (clients created through ``POST /Clients``). Lifetimes default to VRO's
15 / 120 minutes. Errors are OWIN-style ``{"error", "error_description"}`` (inferred).
"""

from __future__ import annotations

import base64
import hmac
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import format_datetime

import pyotp

from bot.simulator.estate import UserSpec

MFA_TOKEN_MINUTES = 5
TOTP_PERIOD_SECONDS = 30
PRUNE_ABOVE = 10_000
CLIENT_SECRET_PREFIX = "AQAAANCMnd8BFdERjHoAwE/Cl+sBAAAA"  # noqa: S105 - DPAPI blob header, not a secret


def totp_code(secret: str, when: datetime, *, digits: int = 6, period: int = TOTP_PERIOD_SECONDS) -> str:
    """RFC 6238 TOTP (HMAC-SHA1) of a base32 ``secret`` at ``when`` (pyotp)."""
    return pyotp.TOTP(secret.upper(), digits=digits, interval=period).at(int(when.timestamp()))


class GrantError(Exception):
    """The token endpoint refuses: OAuth ``error`` code plus a description."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


class AccessDenied(Exception):
    """An authenticated caller may not do this (e.g. a client creating clients)."""


@dataclass(slots=True)
class Principal:
    """Who a token speaks for: a user, or a client acting with its owner's rights."""

    username: str
    roles: tuple[str, ...]
    client_id: str | None = None


@dataclass(slots=True)
class _Grant:
    principal: Principal
    expires: datetime


@dataclass(slots=True)
class _Client:
    client_id: str
    secret: str
    owner: str


@dataclass(slots=True)
class _MfaPending:
    username: str
    expires: datetime


@dataclass
class AuthState:
    """Users, clients and every token issued since the last reboot."""

    users: dict[str, UserSpec]
    access_minutes: float = 15
    refresh_minutes: float = 120
    single_session: bool = False
    access: dict[str, _Grant] = field(default_factory=dict)
    refresh: dict[str, _Grant] = field(default_factory=dict)
    mfa_pending: dict[str, _MfaPending] = field(default_factory=dict)
    clients: dict[str, _Client] = field(default_factory=dict)
    mfa_enrolled: set[str] = field(default_factory=set)

    @classmethod
    def from_users(
        cls,
        users: list[UserSpec],
        *,
        access_minutes: float,
        refresh_minutes: float,
        single_session: bool = False,
    ) -> AuthState:
        return cls(
            users={_short(u.username): u for u in users},
            access_minutes=access_minutes,
            refresh_minutes=refresh_minutes,
            single_session=single_session,
        )

    # --- the token endpoint ---------------------------------------------------------------

    def grant(self, form: dict[str, str], now: datetime) -> dict[str, object]:
        """Answer a ``POST /api/token`` form; raises :class:`GrantError`."""
        grant_type = form.get("grant_type", "password").strip().lower()
        if grant_type == "password":
            return self._password(form, now)
        if grant_type == "mfa":
            return self._mfa(form, now)
        if grant_type == "refresh_token":
            return self._refresh(form, now)
        if grant_type == "client_credentials":
            return self._client_credentials(form, now)
        raise GrantError("unsupported_grant_type", f"The grant type '{grant_type}' is not supported.")

    def _password(self, form: dict[str, str], now: datetime) -> dict[str, object]:
        username, password = form.get("username", ""), form.get("password", "")
        if not username or not password:
            raise GrantError("invalid_request", "The user name and password are required.")
        user = self.users.get(_short(username))
        if user is None or not hmac.compare_digest(user.password, password):
            raise GrantError("invalid_grant", "The user name or password is incorrect.")
        if user.mfaSecret:
            token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + secrets.token_urlsafe(32)
            self.mfa_pending[token] = _MfaPending(
                _short(user.username), now + timedelta(minutes=MFA_TOKEN_MINUTES)
            )
            return {"mfa_token": token}
        return self._issue(Principal(_short(user.username), tuple(user.roles)), now)

    def _mfa(self, form: dict[str, str], now: datetime) -> dict[str, object]:
        token, passcode = form.get("mfa_token", ""), form.get("mfa_passcode", "").strip()
        pending = self.mfa_pending.get(token)
        if pending is None or pending.expires <= now:
            raise GrantError("invalid_grant", "The MFA token is invalid or has expired; log in again.")
        user = self.users[pending.username]
        secret = user.mfaSecret or ""
        step = timedelta(seconds=TOTP_PERIOD_SECONDS)
        valid = {totp_code(secret, now + k * step) for k in (-1, 0, 1)}
        if passcode not in valid:
            raise GrantError("invalid_grant", "The MFA passcode is incorrect.")
        del self.mfa_pending[token]
        return self._issue(Principal(pending.username, tuple(user.roles)), now)

    def _refresh(self, form: dict[str, str], now: datetime) -> dict[str, object]:
        token = form.get("refresh_token", "")
        grant = self.refresh.pop(token, None)
        if grant is None or grant.expires <= now:
            raise GrantError("invalid_grant", "The refresh token is invalid or has expired.")
        return self._issue(grant.principal, now)

    def _client_credentials(self, form: dict[str, str], now: datetime) -> dict[str, object]:
        client = self.clients.get(form.get("client_id", "").upper())
        if client is None or not hmac.compare_digest(client.secret, form.get("client_secret", "")):
            raise GrantError("invalid_client", "The client id or secret is incorrect.")
        owner = self.users.get(client.owner)
        roles = tuple(owner.roles) if owner else ()
        return self._issue(Principal(client.owner, roles, client.client_id), now)

    def _issue(self, principal: Principal, now: datetime) -> dict[str, object]:
        if self.single_session and principal.client_id is None:
            self._drop_sessions(principal)
        if len(self.access) + len(self.refresh) > PRUNE_ABOVE:
            self._prune(now)
        access, refresh = secrets.token_urlsafe(64), secrets.token_urlsafe(32)
        expires = now + timedelta(minutes=self.access_minutes)
        self.access[access] = _Grant(principal, expires)
        self.refresh[refresh] = _Grant(principal, now + timedelta(minutes=self.refresh_minutes))
        return {
            "access_token": access,
            "token_type": "bearer",
            "expires_in": max(0, round(self.access_minutes * 60) - 1),
            "refresh_token": refresh,
            ".issued": format_datetime(now, usegmt=True),
            ".expires": format_datetime(expires, usegmt=True),
        }

    def _prune(self, now: datetime) -> None:
        """Forget expired tokens so a long-running simulator does not grow without bound."""
        for store in (self.access, self.refresh):
            for token in [t for t, g in store.items() if g.expires <= now]:
                del store[token]

    def _drop_sessions(self, principal: Principal) -> None:
        for store in (self.access, self.refresh):
            for token in [t for t, g in store.items() if _same(g.principal, principal)]:
                del store[token]

    # --- bearer tokens --------------------------------------------------------------------

    def authenticate(self, token: str, now: datetime) -> Principal | None:
        grant = self.access.get(token)
        if grant is None:
            return None
        if grant.expires <= now:
            del self.access[token]
            return None
        return grant.principal

    def issue_for(self, username: str, now: datetime) -> str:
        """An access token for ``username`` without the form dance (tests, demos)."""
        user = self.users[_short(username)]
        answer = self._issue(Principal(_short(user.username), tuple(user.roles)), now)
        return str(answer["access_token"])

    def expire_all(self) -> None:
        """Every access and refresh token stops working (clients and users stay)."""
        self.access.clear()
        self.refresh.clear()
        self.mfa_pending.clear()

    # --- clients and MFA enrolment --------------------------------------------------------

    def create_client(self, principal: Principal) -> dict[str, str]:
        if principal.client_id is not None:
            raise AccessDenied("A client cannot create clients; log in as a user.")
        client_id = str(uuid.uuid4()).upper()
        secret = CLIENT_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(96)).decode()
        self.clients[client_id] = _Client(client_id, secret, principal.username)
        return {"client_id": client_id, "client_secret": secret}

    def list_clients(self, principal: Principal) -> list[str]:
        if principal.client_id is not None:
            return [principal.client_id]
        return [c.client_id for c in self.clients.values() if c.owner == principal.username]

    def delete_client(self, principal: Principal, client_id: str) -> bool:
        """False when the caller has no such client (the caller then answers 404)."""
        client = self.clients.get(client_id.upper())
        if client is None or client.owner != principal.username:
            return False
        if principal.client_id is not None and principal.client_id != client.client_id:
            return False
        del self.clients[client.client_id]
        for store in (self.access, self.refresh):
            for token in [t for t, g in store.items() if g.principal.client_id == client.client_id]:
                del store[token]
        return True

    def generate_mfa_code(self, mfa_token: str, now: datetime, issuer: str) -> dict[str, str] | None:
        """The enrolment secret, once per user; ``None`` means 401 (bad token or already done)."""
        pending = self.mfa_pending.get(mfa_token)
        if pending is None or pending.expires <= now or pending.username in self.mfa_enrolled:
            return None
        secret = self.users[pending.username].mfaSecret or ""
        self.mfa_enrolled.add(pending.username)
        label = pending.username.replace("\\", "%5C")
        return {
            "mfaKey": secret,
            "mfaQrCodeUrl": f"otpauth://totp/{label}?secret={secret}&issuer={issuer}",
        }


def _short(username: str) -> str:
    """``DOMAIN\\user`` and ``user`` name the same account, whatever the casing."""
    return username.rsplit("\\", 1)[-1].strip().lower()


def _same(a: Principal, b: Principal) -> bool:
    return a.username == b.username and a.client_id is None and b.client_id is None
