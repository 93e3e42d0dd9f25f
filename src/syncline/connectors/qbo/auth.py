"""OAuth 2.0 tokens of a QBO endpoint, kept encrypted in the syncline vault.

Intuit's refresh tokens **rotate**: each refresh answers a new refresh token, and the old one
soon stops working. The keeper therefore stores the latest token set in the
:class:`~syncline.vault.Vault` (under ``qbo/<endpoint>/<realm id>``) inside the vault's
lock, before using the new access token, so a crash or a second process never loses it.

The first refresh token comes from the ``refresh_token`` setting (usually ``env:NAME``) when
the vault holds none for the endpoint; after that the setting is not read again.

The token request is a plain form POST with HTTP Basic client authentication (RFC 6749
section 6), made with httpx: authlib's client insists on HTTPS, which a local sandbox does
not speak.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from syncline.errors import AuthenticationFailed, EndpointUnavailable
from syncline.vault import Vault

__all__ = ["TokenKeeper"]

_EARLY = 120.0
"""Refresh an access token this many seconds before it expires."""


class TokenKeeper:
    """Hands out a valid access token, refreshing and storing tokens as needed."""

    def __init__(self, *, endpoint: str, realm: str, token_url: str, client_id: str,
                 client_secret: str, vault: Vault, first_refresh_token: str | None,
                 timeout: float = 30.0) -> None:
        self.endpoint = endpoint
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.vault = vault
        self.first_refresh_token = first_refresh_token
        self.secret_name = f"qbo/{endpoint}/{realm}"
        self.timeout = timeout
        self._lock = threading.Lock()
        self._access: tuple[str, float] | None = None

    def access_token(self, *, force: bool = False) -> str:
        """A valid access token; ``force`` refreshes even if the current one looks valid
        (after the API answered 401).

        Raises:
            AuthenticationFailed: there is no refresh token, or the token endpoint refused it.
            EndpointUnavailable: the token endpoint cannot be reached.
            ConfigError: the vault cannot be used.
        """
        with self._lock:
            if not force and self._access is not None and self._access[1] > time.time():
                return self._access[0]
            with self.vault.update(self.secret_name) as stored:
                if not force and stored.get("access_token") \
                        and float(stored.get("expires_at", 0)) > time.time() + _EARLY:
                    token = str(stored["access_token"])
                    self._access = (token, float(stored["expires_at"]) - _EARLY)
                    return token
                refresh = stored.get("refresh_token") or self.first_refresh_token
                if not refresh:
                    raise AuthenticationFailed(
                        self.endpoint, f"no refresh token: set endpoints.{self.endpoint}."
                        f"refresh_token (e.g. env:QBO_REFRESH_TOKEN) once; the vault keeps "
                        f"the rotated ones")
                answer = self._refresh(str(refresh))
                expires_at = time.time() + float(answer.get("expires_in", 3600))
                stored.clear()
                stored.update({"access_token": answer["access_token"],
                               "refresh_token": answer.get("refresh_token", refresh),
                               "expires_at": expires_at, "refreshed_at": time.time()})
            self._access = (str(answer["access_token"]), expires_at - _EARLY)
            return self._access[0]

    def _refresh(self, refresh_token: str) -> dict[str, Any]:
        try:
            response = httpx.post(self.token_url, data={"grant_type": "refresh_token",
                                                        "refresh_token": refresh_token},
                                  auth=(self.client_id, self.client_secret),
                                  headers={"Accept": "application/json"},
                                  timeout=self.timeout)
        except httpx.HTTPError as error:
            raise EndpointUnavailable(self.endpoint, f"token endpoint {self.token_url}: "
                                                     f"{error}") from None
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if response.status_code != 200 or not isinstance(answer, dict) \
                or "access_token" not in answer:
            reason = answer.get("error_description") or answer.get("error") \
                if isinstance(answer, dict) else None
            raise AuthenticationFailed(self.endpoint, f"the token endpoint refused the refresh "
                                       f"token (HTTP {response.status_code}: "
                                       f"{reason or response.text[:200]})")
        return answer
