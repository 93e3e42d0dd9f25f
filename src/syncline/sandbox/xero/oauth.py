"""The Xero sandbox's minimal OAuth 2.0 authorization server and connections endpoint.

It follows Xero's identity service in what a client sees:

``GET /identity/connect/authorize``
    ``response_type=code``, ``client_id``, ``redirect_uri``, ``scope``, ``state``. A real
    Xero asks the user to log in and pick organisations; the SANDBOX consents at once for
    every organisation it holds and redirects to ``redirect_uri?code=...&state=...``.
``POST /identity/connect/token`` (also ``/connect/token``, the path of Xero's identity host)
    Client authentication by HTTP Basic (or ``client_id`` / ``client_secret`` in the form).
    ``grant_type=authorization_code`` (``code``, ``redirect_uri``; a code works once, for 5
    minutes) and ``grant_type=refresh_token``. Refresh tokens rotate as Xero's do: each
    refresh answers a new refresh token and the old one stops working. Access tokens last
    ``access_token_seconds`` (Xero: 30 minutes). Errors are RFC 6749 JSON
    (``invalid_client``, ``invalid_grant``, ``unsupported_grant_type``).
``GET /connections`` (also ``/Connections``, as xero-python's IdentityApi spells it)
    The organisations the access token may use: ``id``, ``tenantId``, ``tenantType``,
    ``tenantName``, ``createdDateUtc``, ``updatedDateUtc``.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from syncline.sandbox.xero.store import SandboxStore

__all__ = ["Grant", "OAuthServer", "oauth_router"]

_CODE_SECONDS = 300.0
_REFRESH_SECONDS = 60 * 86_400.0


@dataclass
class Grant:
    """What a code or token stands for: the client, its scope and the tenants it reaches."""

    client_id: str
    scope: str
    tenants: list[str]
    expires: float
    redirect_uri: str = ""


class OAuthServer:
    """Registered clients and the codes and tokens handed out (in memory, thread-safe)."""

    def __init__(self, store: SandboxStore, clients: dict[str, str],
                 access_token_seconds: float = 1800.0) -> None:
        self.store = store
        self.clients = dict(clients)
        self.access_token_seconds = access_token_seconds
        self._lock = threading.Lock()
        self.codes: dict[str, Grant] = {}
        self.access_tokens: dict[str, Grant] = {}
        self.refresh_tokens: dict[str, Grant] = {}
        self.connection_ids = {tenant: str(uuid.uuid5(uuid.NAMESPACE_URL, f"conn:{tenant}"))
                               for tenant in store.tenants}

    def issue_code(self, client_id: str, redirect_uri: str, scope: str) -> str:
        code = secrets.token_urlsafe(24)
        with self._lock:
            self.codes[code] = Grant(client_id, scope, list(self.store.tenants),
                                     time.time() + _CODE_SECONDS, redirect_uri)
        return code

    def _tokens(self, grant: Grant) -> dict[str, Any]:
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = time.time()
        self.access_tokens[access] = Grant(grant.client_id, grant.scope, grant.tenants,
                                           now + self.access_token_seconds)
        self.refresh_tokens[refresh] = Grant(grant.client_id, grant.scope, grant.tenants,
                                             now + _REFRESH_SECONDS)
        return {"access_token": access, "refresh_token": refresh, "token_type": "Bearer",
                "expires_in": int(self.access_token_seconds), "scope": grant.scope}

    def exchange_code(self, client_id: str, code: str, redirect_uri: str) -> dict[str, Any]:
        """Tokens for an authorization code.

        Raises:
            KeyError: the code is unknown, used, expired, or was issued to another client
                or redirect URI (RFC 6749 ``invalid_grant``).
        """
        with self._lock:
            grant = self.codes.pop(code, None)
            if grant is None or grant.expires < time.time() or grant.client_id != client_id \
                    or grant.redirect_uri != redirect_uri:
                raise KeyError("invalid_grant")
            return self._tokens(grant)

    def refresh(self, client_id: str, refresh_token: str) -> dict[str, Any]:
        """New tokens for a refresh token, which stops working (rotation).

        Raises:
            KeyError: the refresh token is unknown, already used, expired or another
                client's (``invalid_grant``).
        """
        with self._lock:
            grant = self.refresh_tokens.pop(refresh_token, None)
            if grant is None or grant.expires < time.time() or grant.client_id != client_id:
                raise KeyError("invalid_grant")
            return self._tokens(grant)

    def access_grant(self, authorization: str | None) -> Grant | None:
        """The grant of a ``Bearer`` authorization header, ``None`` when it is missing,
        unknown or expired."""
        if not authorization or not authorization.lower().startswith("bearer "):
            return None
        with self._lock:
            grant = self.access_tokens.get(authorization[7:].strip())
        if grant is None or grant.expires < time.time():
            return None
        return grant

    def expire_access_tokens(self) -> int:
        """Make every access token expired now (tests of refreshing); how many there were."""
        with self._lock:
            count = len(self.access_tokens)
            self.access_tokens.clear()
            return count

    def client_of(self, request_form: dict[str, str], authorization: str | None) -> str | None:
        """The authenticated client ID, ``None`` when authentication fails."""
        client_id, secret = request_form.get("client_id"), request_form.get("client_secret")
        if authorization and authorization.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(authorization[6:].strip()).decode()
            except (ValueError, UnicodeDecodeError):
                return None
            client_id, _, secret = decoded.partition(":")
        if client_id is None or self.clients.get(client_id) is None \
                or not secrets.compare_digest(self.clients[client_id], secret or ""):
            return None
        return client_id


def _oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def oauth_router(server: OAuthServer) -> APIRouter:
    """The routes of the identity service and ``/connections``."""
    router = APIRouter(tags=["SANDBOX identity"])

    @router.get("/identity/connect/authorize", response_model=None)
    def authorize(response_type: str = "", client_id: str = "", redirect_uri: str = "",
                  scope: str = "", state: str = "") -> Response:
        """SANDBOX consent: grants every organisation at once and redirects back."""
        if client_id not in server.clients:
            return PlainTextResponse(f"unknown client_id '{client_id}'", status_code=400)
        if not redirect_uri.startswith(("http://", "https://")):
            return PlainTextResponse("redirect_uri must be an http(s) URL", status_code=400)
        separator = "&" if "?" in redirect_uri else "?"
        if response_type != "code":
            query = urlencode({"error": "unsupported_response_type", "state": state})
            return RedirectResponse(f"{redirect_uri}{separator}{query}", status_code=302)
        code = server.issue_code(client_id, redirect_uri, scope)
        query = urlencode({"code": code, "scope": scope, "state": state})
        return RedirectResponse(f"{redirect_uri}{separator}{query}", status_code=302)

    @router.post("/identity/connect/token")
    @router.post("/connect/token")
    async def token(request: Request) -> JSONResponse:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        client_id = server.client_of(form, request.headers.get("authorization"))
        if client_id is None:
            return _oauth_error("invalid_client", "client authentication failed", 401)
        grant_type = form.get("grant_type", "")
        try:
            if grant_type == "authorization_code":
                tokens = server.exchange_code(client_id, form.get("code", ""),
                                              form.get("redirect_uri", ""))
            elif grant_type == "refresh_token":
                tokens = server.refresh(client_id, form.get("refresh_token", ""))
            else:
                return _oauth_error("unsupported_grant_type", f"'{grant_type}' is not supported")
        except KeyError:
            return _oauth_error("invalid_grant", "the code or refresh token is invalid, "
                                                 "expired or already used")
        return JSONResponse(tokens, headers={"Cache-Control": "no-store"})

    @router.get("/connections")
    @router.get("/Connections")
    def connections(request: Request) -> JSONResponse:
        grant = server.access_grant(request.headers.get("authorization"))
        if grant is None:
            return JSONResponse({"Title": "Unauthorized", "Status": 401,
                                 "Detail": "AuthenticationUnsuccessful"}, status_code=401,
                                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        found = []
        for tenant_id in grant.tenants:
            tenant = server.store.tenants.get(tenant_id)
            if tenant is None:
                continue
            created = tenant.created.strftime("%Y-%m-%dT%H:%M:%S.%f")
            found.append({"id": server.connection_ids.get(tenant_id, tenant_id),
                          "authEventId": server.connection_ids.get(tenant_id, tenant_id),
                          "tenantId": tenant_id, "tenantType": "ORGANISATION",
                          "tenantName": tenant.name, "createdDateUtc": created,
                          "updatedDateUtc": created})
        return JSONResponse(found)

    return router
