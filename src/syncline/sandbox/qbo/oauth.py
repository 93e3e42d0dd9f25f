"""A minimal OAuth 2.0 authorization server for the SANDBOX, shaped like Intuit's.

- ``GET /oauth2/v1/authorize?client_id&redirect_uri&response_type=code&scope&state``: the
  sandbox asks no one (there is no user to ask) and redirects at once to
  ``redirect_uri?code=...&state=...&realmId=...``.
- ``POST /oauth2/v1/tokens/bearer`` (form body, client credentials in HTTP Basic auth):
  ``grant_type=authorization_code`` (``code``, ``redirect_uri``) or
  ``grant_type=refresh_token`` (``refresh_token``). Answers ``{"token_type": "bearer",
  "access_token", "expires_in", "refresh_token", "x_refresh_token_expires_in"}``.
- ``GET /oauth2/v1/userinfo`` (Bearer access token): a made-up user of the company;
  ``GET /oauth2/v1/keys``: no signing keys (the sandbox issues no ID tokens).
- ``POST /oauth2/v1/tokens/revoke`` (JSON ``{"token": ...}``, client credentials in HTTP
  Basic auth): the company's tokens stop working.

Refresh tokens **rotate**: every refresh answers a new refresh token and the one used stops
working, so a client that does not store the latest one is locked out (``invalid_grant``).
Codes are single-use and live 5 minutes; access tokens live ``access_seconds``.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from syncline.sandbox.qbo.faults import FaultCode, FaultType, QboFault

__all__ = ["SANDBOX_CLIENT_ID", "SANDBOX_CLIENT_SECRET", "OAuthError", "OAuthServer"]

SANDBOX_CLIENT_ID = "syncline-sandbox-client"
SANDBOX_CLIENT_SECRET = "syncline-sandbox-secret"
_REFRESH_SECONDS = 100 * 24 * 3600


class OAuthError(Exception):
    """An OAuth error answer: ``error`` code (RFC 6749 section 5.2) and HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status


@dataclass
class OAuthServer:
    """Clients, codes and tokens (see the module docstring)."""

    access_seconds: int = 3600
    clients: dict[str, str] = field(
        default_factory=lambda: {SANDBOX_CLIENT_ID: SANDBOX_CLIENT_SECRET})
    codes: dict[str, tuple[str, str, str, float]] = field(default_factory=dict)
    access: dict[str, tuple[str, float]] = field(default_factory=dict)
    refresh: dict[str, tuple[str, str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def authorize(self, client_id: str, redirect_uri: str, realm: str) -> str:
        """A new authorization code for ``realm``.

        Raises:
            OAuthError: the client is unknown or no redirect URI was given.
        """
        if client_id not in self.clients:
            raise OAuthError("invalid_client", f"unknown client_id '{client_id}'", 401)
        if not redirect_uri:
            raise OAuthError("invalid_request", "redirect_uri is required")
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = (client_id, realm, redirect_uri, time.time() + 300)
        return code

    def _client(self, client_id: str | None, client_secret: str | None) -> str:
        if client_id is None or self.clients.get(client_id) != client_secret:
            raise OAuthError("invalid_client", "client authentication failed", 401)
        return client_id

    def issue(self, client_id: str, realm: str) -> dict[str, Any]:
        """New access and refresh tokens for ``realm`` (also how the sandbox hands a first
        refresh token to a user who skips the browser step)."""
        access_token = secrets.token_urlsafe(32)
        refresh_token = secrets.token_urlsafe(32)
        with self.lock:
            self.access[access_token] = (realm, time.time() + self.access_seconds)
            self.refresh[refresh_token] = (client_id, realm)
        return {"token_type": "bearer", "access_token": access_token,
                "expires_in": self.access_seconds, "refresh_token": refresh_token,
                "x_refresh_token_expires_in": _REFRESH_SECONDS, "realmId": realm}

    def token(self, form: dict[str, str], client_id: str | None,
              client_secret: str | None) -> dict[str, Any]:
        """Answer the token endpoint.

        Raises:
            OAuthError: unknown client (401), unsupported grant, or an invalid, used or
                expired code or refresh token (``invalid_grant``).
        """
        client = self._client(client_id, client_secret)
        grant = form.get("grant_type")
        with self.lock:
            if grant == "authorization_code":
                found = self.codes.pop(form.get("code", ""), None)
                if found is None or found[0] != client or found[3] < time.time():
                    raise OAuthError("invalid_grant", "the code is unknown, used or expired")
                if form.get("redirect_uri") != found[2]:
                    raise OAuthError("invalid_grant", "redirect_uri differs from the one "
                                     "the code was issued for")
                realm = found[1]
            elif grant == "refresh_token":
                owner = self.refresh.pop(form.get("refresh_token", ""), None)
                if owner is None or owner[0] != client:
                    raise OAuthError("invalid_grant", "the refresh token is unknown or was "
                                     "already used (refresh tokens rotate: keep the latest)")
                realm = owner[1]
            else:
                raise OAuthError("unsupported_grant_type", f"grant_type '{grant}' is not "
                                 f"supported")
        return self.issue(client, realm)

    def revoke(self, token: str, client_id: str | None, client_secret: str | None) -> None:
        """Revoke ``token`` (a refresh or an access token) and every token of its grant's
        company for that client (Intuit's revoke ends the connection).

        Raises:
            OAuthError: unknown client (401) or no token given (``invalid_request``).
        """
        client = self._client(client_id, client_secret)
        if not token:
            raise OAuthError("invalid_request", "token is required")
        with self.lock:
            owner = self.refresh.get(token)
            realm = owner[1] if owner is not None and owner[0] == client else (
                self.access[token][0] if token in self.access else None)
            if realm is None:
                return
            for key in [key for key, (who, where) in self.refresh.items()
                        if who == client and where == realm]:
                del self.refresh[key]
            for key in [key for key, (where, _) in self.access.items() if where == realm]:
                del self.access[key]

    def realm_of(self, header: str | None) -> str | None:
        """The company a request's ``Authorization: Bearer`` token is for; ``None`` when
        there is no such token or it expired."""
        if not header or not header.lower().startswith("bearer "):
            return None
        with self.lock:
            found = self.access.get(header[7:].strip())
        return found[0] if found is not None and found[1] >= time.time() else None

    def check(self, header: str | None, realm: str) -> None:
        """Check a request's ``Authorization: Bearer`` header for ``realm``.

        Raises:
            QboFault: an AuthenticationFault (HTTP 401, code 3200).
        """
        if self.realm_of(header) != realm:
            why = "no bearer token" if not header or not header.lower().startswith(
                "bearer ") else "the token is unknown, expired or for another company"
            raise QboFault(FaultCode.AUTHENTICATION,
                           "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                           f"Authentication failed: {why}", type=FaultType.AUTHENTICATION)
