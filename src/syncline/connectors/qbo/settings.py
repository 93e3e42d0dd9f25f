"""The settings of a ``qbo`` endpoint (``[endpoints.NAME]`` with ``connector = "qbo"``).

=======================  ============================================================  =======
setting                  meaning                                                       default
=======================  ============================================================  =======
``realm_id``             the company's realmId                                         required
``client_id``            the app's OAuth client id                                     required
``client_secret``        its secret (write ``env:NAME``)                               required
``refresh_token``        the first refresh token (``env:NAME``); later ones live in    none
                         the vault
``base_url``             API host                                     ``https://quickbooks.api.intuit.com``
``token_url``            OAuth token endpoint          ``https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer``
``minor_version``        ``minorversion`` sent on every call                           75
``streams``              streams to offer (see :mod:`.mapping`)                        all
``page_size``            MAXRESULTS of a query page (1..1000)                          1000
``batch_size``           operations per batch request (1..30)                          30
``requests_per_minute``  client-side rate limit per company                            500
``concurrent``           calls at once per company                                     10
``minute_seconds``       length of the rate limit's minute (shorter for a sandbox      60
                         whose limits are scaled)
``cdc_limit``            most objects a CDC answer holds per entity                    1000
``state_dir``            receipts and own-write records          ``.syncline/qbo-<endpoint>``
``vault``                the encrypted token vault               ``.syncline/vault.json``
``key_file``             the vault's key file when ``SYNCLINE_SECRET_KEY`` is unset  the user's
``timeout``              seconds per HTTP call                                         60
``attempts``             tries per call before giving up (429s, 5xx, no connection;    8
                         jittered back-off; a 429 or 503 waits its Retry-After)
``rounding_item``        the item (name, SKU or Id) of sales lines that name none:     none
                         the rounding and adjustment lines of posting rules; must
                         exist in the company (checked when the connector opens)
``retries``              the run's retry budget and backoff: a table of ``retries``
                         (50), ``max_wait`` (300 s), ``backoff`` (0.5 s),
                         ``max_backoff`` (30 s), ``attempts`` (as above); see
                         :mod:`syncline.connectors.retry`
=======================  ============================================================  =======
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path
from typing import Any

from syncline.connectors.qbo.mapping import STREAMS
from syncline.connectors.retry import DEFAULT_POLICY, RetryPolicy, parse_policy
from syncline.errors import ConfigError
from syncline.secret_values import resolve_secret

__all__ = ["SETTINGS", "QboSettings"]

SETTINGS = ("realm_id", "client_id", "client_secret", "refresh_token", "base_url", "token_url",
            "minor_version", "streams", "page_size", "batch_size", "requests_per_minute",
            "concurrent", "minute_seconds", "cdc_limit", "state_dir", "vault", "key_file",
            "timeout", "attempts", "retries", "rounding_item")


@dataclass(frozen=True)
class QboSettings:
    """Checked settings (see the module docstring). Secrets stay unresolved (``env:NAME``)
    until :meth:`secret` is called."""

    endpoint: str
    realm_id: str
    client_id: str
    client_secret: str
    refresh_token: str | None
    base_url: str
    token_url: str
    minor_version: int
    streams: tuple[str, ...]
    page_size: int
    batch_size: int
    requests_per_minute: int
    concurrent: int
    minute_seconds: float
    cdc_limit: int
    state_dir: Path
    vault: Path
    key_file: Path | None
    timeout: float
    attempts: int
    retries: RetryPolicy = DEFAULT_POLICY
    rounding_item: str | None = None

    def secret(self, name: str) -> str | None:
        """A secret setting with ``env:NAME`` resolved.

        Raises:
            ConfigError: the environment variable is not set.
        """
        value = getattr(self, name)
        return None if value is None else resolve_secret(
            str(value), key=f"endpoints.{self.endpoint}.{name}")

    @classmethod
    def parse(cls, endpoint: str, raw: Mapping[str, Any], base_dir: Path) -> QboSettings:
        """Check and complete ``raw``.

        Raises:
            ConfigError: naming the offending key: an unknown setting (with a suggestion), a
                missing required one, a number out of range, an unknown stream.
        """
        def key(name: str) -> str:
            return f"endpoints.{endpoint}.{name}"

        for name in raw:
            if name not in SETTINGS:
                close = get_close_matches(name, SETTINGS, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise ConfigError(f"unknown setting '{name}'{hint}; known: "
                                  f"{', '.join(SETTINGS)}", key=key(name))
        for name in ("realm_id", "client_id", "client_secret"):
            if not str(raw.get(name) or "").strip():
                raise ConfigError("is required", key=key(name))

        def number(name: str, default: float, low: float, high: float) -> float:
            value = raw.get(name, default)
            if isinstance(value, bool) or not isinstance(value, int | float) \
                    or not low <= value <= high:
                raise ConfigError(f"must be a number from {low:g} to {high:g}, not {value!r}",
                                  key=key(name))
            return float(value)

        streams = raw.get("streams", list(STREAMS))
        if not isinstance(streams, list) or not all(isinstance(s, str) for s in streams):
            raise ConfigError("must be a list of stream names", key=key("streams"))
        for stream in streams:
            if stream not in STREAMS:
                raise ConfigError(f"QuickBooks Online has no stream '{stream}'; known: "
                                  f"{', '.join(STREAMS)}", key=key("streams"))

        def path(name: str, default: str) -> Path:
            found = Path(str(raw.get(name, default))).expanduser()
            return found if found.is_absolute() else base_dir / found

        refresh = raw.get("refresh_token")
        rounding_item = raw.get("rounding_item")
        if rounding_item is not None and (not isinstance(rounding_item, str | int)
                                          or isinstance(rounding_item, bool)
                                          or not str(rounding_item).strip()):
            raise ConfigError("must name an item of the company (its name, SKU or Id)",
                              key=key("rounding_item"))
        return cls(
            endpoint=endpoint, realm_id=str(raw["realm_id"]).strip(),
            client_id=str(raw["client_id"]), client_secret=str(raw["client_secret"]),
            refresh_token=str(refresh) if refresh else None,
            base_url=str(raw.get("base_url", "https://quickbooks.api.intuit.com")),
            token_url=str(raw.get("token_url",
                                  "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer")),
            minor_version=int(number("minor_version", 75, 1, 1000)),
            streams=tuple(streams), page_size=int(number("page_size", 1000, 1, 1000)),
            batch_size=int(number("batch_size", 30, 1, 30)),
            requests_per_minute=int(number("requests_per_minute", 500, 1, 100_000)),
            concurrent=int(number("concurrent", 10, 1, 100)),
            minute_seconds=number("minute_seconds", 60.0, 0.001, 3600.0),
            cdc_limit=int(number("cdc_limit", 1000, 1, 1000)),
            state_dir=path("state_dir", f".syncline/qbo-{endpoint}"),
            vault=path("vault", ".syncline/vault.json"),
            key_file=path("key_file", "") if raw.get("key_file") else None,
            timeout=number("timeout", 60.0, 0.1, 3600.0),
            attempts=int(number("attempts", 8, 1, 50)),
            retries=parse_policy(raw.get("retries"), key("retries"),
                                 RetryPolicy(attempts=int(number("attempts", 8, 1, 50)))),
            rounding_item=str(rounding_item).strip() if rounding_item is not None else None)
