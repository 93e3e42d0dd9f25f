"""Settings of a ``xero`` endpoint (the ``[endpoints.NAME]`` table).

``client_id``
    The OAuth client (app) ID from Xero's developer portal (required).
``client_secret`` / ``client_secret_env``
    The client secret, or the environment variable holding it (default
    ``XERO_CLIENT_SECRET``); keeping it out of the file is better.
``tenant``
    The organisation this endpoint reads and writes: its tenant ID or its name as
    ``/connections`` lists it. May be left out when the connection reaches one organisation.
    Several organisations = several endpoints sharing one ``connection``.
``connection``
    The vault entry holding the OAuth token (default ``xero/<client_id>``).
``sandbox_url``
    The base URL of a ``syncline sandbox xero`` server; sets the API, token, authorization
    and connections URLs to the sandbox's. Without it the real Xero URLs are used.
``redirect_uri``, ``scopes``
    For the authorization grant (defaults: ``http://localhost:8765/callback``; offline
    access plus accounting transactions, contacts and settings).
``streams``
    The streams to serve (a list or a table; default all: see :data:`STREAM_NAMES`).
``tracking``
    Which tracking category feeds ``cost_code`` and ``project_code`` (defaults ``Region``
    and ``Project``).
``batch_size``
    Elements per write request (default 50, Xero's recommendation; at most 100).
``limits``
    ``per_minute`` (60), ``per_day`` (5000), ``concurrent`` (5), ``time_scale`` (1.0: the
    client's clock of the limits; match the sandbox's ``--rate-scale``), ``max_wait``
    (seconds a 429 may make us wait before the run gives up, default 300).
``retries``
    How failing calls are tried again (429, 500/502/503/504, dropped connections, timeouts):
    ``retries`` (50) and ``max_wait`` (300 s) are what one run may spend, ``backoff`` (0.5 s)
    and ``max_backoff`` (30 s) the first and longest wait, ``attempts`` (8) the most tries of
    one call (see :mod:`syncline.connectors.retry`).
``vault``, ``key_file``, ``state_dir``
    Where the encrypted token, the secret key and the connector's receipts live (defaults
    ``.syncline/vault.json``, the user's key file, ``.syncline/xero/<endpoint>``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from syncline.connectors.retry import DEFAULT_POLICY, RetryPolicy, parse_policy
from syncline.errors import ConfigError
from syncline.secret_values import resolve_secret

__all__ = ["STREAM_NAMES", "XeroSettings", "parse_settings"]

STREAM_NAMES = ("contact", "invoice", "bill", "credit_note", "payment", "ledger_account",
                "tax_rate", "item", "cost_code", "project_code")
_REAL = {"api": "https://api.xero.com/api.xro/2.0",
         "connections": "https://api.xero.com/connections",
         "token": "https://identity.xero.com/connect/token",
         "authorize": "https://login.xero.com/identity/connect/authorize"}
_SCOPES = "offline_access accounting.transactions accounting.contacts accounting.settings"
_KNOWN = {"connector", "client_id", "client_secret", "client_secret_env", "tenant",
          "connection", "sandbox_url", "redirect_uri", "scopes", "streams", "tracking",
          "batch_size", "limits", "vault", "key_file", "state_dir", "page_size", "retries"}


@dataclass
class XeroSettings:
    """The parsed settings (see the module docstring)."""

    client_id: str
    client_secret: str
    tenant: str | None
    connection: str
    api_url: str
    connections_url: str
    token_url: str
    authorize_url: str
    redirect_uri: str
    scopes: str
    streams: list[str]
    tracking: dict[str, str]
    batch_size: int
    per_minute: int
    per_day: int
    concurrent: int
    time_scale: float
    max_wait: float
    vault_path: Path
    key_file: Path | None
    state_dir: Path
    extra: dict[str, Any] = field(default_factory=dict)
    retries: RetryPolicy = DEFAULT_POLICY


def _int(settings: Mapping[str, Any], name: str, default: int, key: str, low: int,
         high: int) -> int:
    value = settings.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"must be a whole number from {low} to {high}", key=f"{key}.{name}")
    return value


def _path(value: Any, base_dir: Path, key: str) -> Path:
    if not isinstance(value, str | Path) or not str(value):
        raise ConfigError("must be a path", key=key)
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else base_dir / path


def parse_settings(endpoint: str, settings: Mapping[str, Any], base_dir: Path,
                   *, need_secret: bool = True) -> XeroSettings:
    """Check and parse an endpoint's settings.

    Raises:
        ConfigError: naming the offending key (``endpoints.NAME.KEY``).
    """
    key = f"endpoints.{endpoint}"
    unknown = sorted(set(settings) - _KNOWN)
    if unknown:
        raise ConfigError(f"unknown setting '{unknown[0]}'", key=f"{key}.{unknown[0]}")
    client_id = settings.get("client_id")
    if not isinstance(client_id, str) or not client_id:
        raise ConfigError("the OAuth client ID from Xero's developer portal is required",
                          key=f"{key}.client_id")
    secret_env = str(settings.get("client_secret_env", "XERO_CLIENT_SECRET"))
    secret = settings.get("client_secret") or os.environ.get(secret_env, "")
    if need_secret and isinstance(secret, str) and secret.startswith(("env:", "vault:")):
        secret = resolve_secret(secret, key=f"{key}.client_secret")
    if need_secret and not secret:
        raise ConfigError(f"no client secret: set client_secret or the environment variable "
                          f"{secret_env}", key=f"{key}.client_secret")
    sandbox = settings.get("sandbox_url")
    if sandbox is not None:
        if not isinstance(sandbox, str) or not sandbox.startswith(("http://", "https://")):
            raise ConfigError("must be an http(s) URL", key=f"{key}.sandbox_url")
        base = sandbox.rstrip("/")
        urls = {"api": f"{base}/api.xro/2.0", "connections": f"{base}/connections",
                "token": f"{base}/identity/connect/token",
                "authorize": f"{base}/identity/connect/authorize"}
    else:
        urls = dict(_REAL)
    streams_setting = settings.get("streams")
    if streams_setting is None:
        streams = list(STREAM_NAMES)
    elif isinstance(streams_setting, list | Mapping):
        streams = [str(name) for name in streams_setting]
    else:
        raise ConfigError("must be a list of stream names", key=f"{key}.streams")
    for name in streams:
        if name not in STREAM_NAMES:
            raise ConfigError(f"the xero connector has no stream '{name}' (it has "
                              f"{', '.join(STREAM_NAMES)})", key=f"{key}.streams")
    tracking = {"cost_code": "Region", "project_code": "Project"}
    given_tracking = settings.get("tracking") or {}
    if not isinstance(given_tracking, Mapping) or not set(given_tracking) <= set(tracking):
        raise ConfigError("must be a table with cost_code and/or project_code naming "
                          "tracking categories", key=f"{key}.tracking")
    tracking.update({name: str(value) for name, value in given_tracking.items()})
    limits = settings.get("limits") or {}
    if not isinstance(limits, Mapping):
        raise ConfigError("must be a table", key=f"{key}.limits")
    scale = limits.get("time_scale", 1.0)
    max_wait = limits.get("max_wait", 300.0)
    for name, value in (("time_scale", scale), ("max_wait", max_wait)):
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ConfigError("must be a number greater than 0", key=f"{key}.limits.{name}")
    tenant = settings.get("tenant")
    if tenant is not None and (not isinstance(tenant, str) or not tenant):
        raise ConfigError("must be a tenant ID or organisation name", key=f"{key}.tenant")
    state_dir = settings.get("state_dir")
    return XeroSettings(
        client_id=client_id, client_secret=str(secret), tenant=tenant,
        connection=str(settings.get("connection") or f"xero/{client_id}"),
        api_url=urls["api"], connections_url=urls["connections"], token_url=urls["token"],
        authorize_url=urls["authorize"],
        redirect_uri=str(settings.get("redirect_uri", "http://localhost:8765/callback")),
        scopes=str(settings.get("scopes", _SCOPES)), streams=streams, tracking=tracking,
        batch_size=_int(settings, "batch_size", 50, key, 1, 100),
        per_minute=_int(limits, "per_minute", 60, f"{key}.limits", 1, 100_000),
        per_day=_int(limits, "per_day", 5000, f"{key}.limits", 1, 10_000_000),
        concurrent=_int(limits, "concurrent", 5, f"{key}.limits", 1, 100),
        time_scale=float(scale), max_wait=float(max_wait),
        vault_path=_path(settings.get("vault", ".syncline/vault.json"), base_dir,
                         f"{key}.vault"),
        key_file=_path(settings["key_file"], base_dir, f"{key}.key_file")
        if settings.get("key_file") else None,
        state_dir=_path(state_dir, base_dir, f"{key}.state_dir") if state_dir
        else base_dir / ".syncline" / "xero" / endpoint,
        retries=parse_policy(settings.get("retries"), f"{key}.retries"),
    )
