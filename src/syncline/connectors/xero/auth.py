"""OAuth 2.0 for the Xero connector: the authorization-code grant, refreshing, and keeping
the newest token encrypted in the :class:`~syncline.vault.Vault`.

Terms:

connection
    One grant of a Xero user to our OAuth client, reaching one or more organisations
    (tenants). Its token is stored in the vault under the connection's name (setting
    ``connection``, default ``xero/<client_id>``); several endpoints (one per organisation)
    may share it.
rotation
    Xero answers every refresh with a new refresh token and the old one stops working, so
    the newest token is written to the vault before it is used. When a refresh is refused
    because another process (or endpoint) already rotated the token, the vault's newer
    token is taken.

The protocol pieces (authorization URL, token request bodies, parsing the redirect, expiry)
come from ``authlib``; the HTTP calls are made with ``httpx``.
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any

import httpx
from authlib.oauth2.rfc6749 import OAuth2Token
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc6749.parameters import (
    parse_authorization_code_response,
    prepare_grant_uri,
    prepare_token_request,
)

from syncline.connectors.xero.settings import XeroSettings
from syncline.errors import AuthenticationFailed, EndpointUnavailable
from syncline.vault import Vault

__all__ = ["TokenKeeper"]

_FORM = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}


class TokenKeeper:
    """The connection's token: hands out a valid access token, refreshing (and storing the
    rotated refresh token) when needed. Thread-safe."""

    def __init__(self, endpoint: str, settings: XeroSettings, vault: Vault,
                 http: httpx.Client) -> None:
        self.endpoint = endpoint
        self.settings = settings
        self.vault = vault
        self.http = http
        self._lock = threading.Lock()
        self._token: dict[str, Any] | None = None

    # -- authorization ----------------------------------------------------------------------
    def authorization_url(self, state: str | None = None) -> tuple[str, str]:
        """The URL to open in a browser to grant access, and the ``state`` it carries."""
        state = state or secrets.token_urlsafe(16)
        url = prepare_grant_uri(self.settings.authorize_url, self.settings.client_id, "code",
                                redirect_uri=self.settings.redirect_uri,
                                scope=self.settings.scopes, state=state)
        return str(url), state

    def complete(self, answer: str, state: str | None = None) -> dict[str, Any]:
        """Exchange the redirect URL (or the bare code) the browser came back with for a
        token, store it in the vault and return it.

        Raises:
            AuthenticationFailed: the redirect carries an error or a different ``state``, or
                the token endpoint refuses the code.
            EndpointUnavailable: the token endpoint cannot be reached.
        """
        code = answer.strip()
        if "://" in code:
            try:
                parsed = parse_authorization_code_response(code, state=state)
            except OAuth2Error as error:
                raise AuthenticationFailed(self.endpoint, f"the redirect was refused: "
                                                          f"{error.error}") from None
            code = str(parsed["code"])
        body = prepare_token_request("authorization_code", code=code,
                                     redirect_uri=self.settings.redirect_uri)
        token = self._token_call(body)
        with self._lock:
            self._store(token)
        return token

    # -- tokens -----------------------------------------------------------------------------
    def _token_call(self, body: str) -> dict[str, Any]:
        try:
            response = self.http.post(self.settings.token_url, content=body, headers=_FORM,
                                      auth=(self.settings.client_id,
                                            self.settings.client_secret))
        except httpx.HTTPError as error:
            raise EndpointUnavailable(self.endpoint, f"token endpoint "
                                                     f"{self.settings.token_url}: {error}") \
                from None
        try:
            document = response.json()
        except ValueError:
            document = {}
        if response.status_code != 200 or "access_token" not in document:
            reason = document.get("error_description") or document.get("error") \
                or f"HTTP {response.status_code}"
            hint = f"; authorize again with `syncline auth {self.endpoint}`" \
                if document.get("error") == "invalid_grant" else ""
            raise AuthenticationFailed(self.endpoint, f"the token endpoint refused: "
                                                      f"{reason}{hint}")
        token = dict(OAuth2Token.from_dict(document))
        return token

    def _store(self, token: dict[str, Any]) -> None:
        self.vault.put(self.settings.connection, token)
        self._token = token

    def _load(self) -> dict[str, Any]:
        token = self.vault.get(self.settings.connection)
        if token is None or not token.get("refresh_token"):
            raise AuthenticationFailed(
                self.endpoint, f"no Xero token stored for connection "
                               f"'{self.settings.connection}'; run `syncline auth "
                               f"{self.endpoint}` first")
        return token

    def access_token(self) -> str:
        """A valid access token, refreshed first when it expires within a minute.

        Raises:
            AuthenticationFailed: no token is stored, or the refresh was refused.
            EndpointUnavailable: the token endpoint cannot be reached.
        """
        with self._lock:
            if self._token is None:
                self._token = self._load()
            if OAuth2Token.from_dict(self._token).is_expired(leeway=60):
                self._refresh()
            return str(self._token["access_token"])

    def refresh_now(self, rejected: str | None = None) -> None:
        """Refresh because the API refused ``rejected`` (unless a newer token already
        replaced it).

        Raises:
            AuthenticationFailed, EndpointUnavailable: as :meth:`access_token`.
        """
        with self._lock:
            if self._token is None or self._token.get("access_token") == rejected:
                self._refresh()

    def _refresh(self) -> None:
        """Refresh with the newest refresh token (the vault's when it is newer than ours)."""
        stored = self._load()
        if self._token is None or stored.get("refresh_token") != self._token.get(
                "refresh_token"):
            self._token = stored
            if not OAuth2Token.from_dict(stored).is_expired(leeway=60):
                return
        body = prepare_token_request("refresh_token",
                                     refresh_token=str(self._token["refresh_token"]))
        try:
            token = self._token_call(body)
        except AuthenticationFailed:
            newer = self._load()
            if newer.get("refresh_token") == self._token.get("refresh_token"):
                raise
            self._token = newer  # another process rotated it meanwhile
            if OAuth2Token.from_dict(newer).is_expired(leeway=60):
                token = self._token_call(prepare_token_request(
                    "refresh_token", refresh_token=str(newer["refresh_token"])))
            else:
                return
        # Xero rotates the refresh token on every refresh; should an answer carry none, the
        # one just used stays the newest
        token.setdefault("refresh_token", self._token["refresh_token"])
        self._store(token)

    def expires_at(self) -> float | None:
        token = self._token
        return float(token["expires_at"]) if token and "expires_at" in token else None

    def seconds_left(self) -> float | None:
        expires = self.expires_at()
        return None if expires is None else expires - time.time()
