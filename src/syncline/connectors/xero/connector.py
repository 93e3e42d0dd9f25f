"""The ``xero`` connector: one Xero organisation through the Accounting API.

Streams (see :data:`CAPABILITIES`): ``contact`` (Contacts), ``invoice`` and ``bill``
(Invoices of type ACCREC and ACCPAY), ``credit_note`` (CreditNotes), ``payment``
(Payments), ``ledger_account`` (Accounts), ``tax_rate`` (TaxRates), ``item`` (Items), and
``cost_code`` / ``project_code`` (the options of two tracking categories). Xero's contacts
are customers and suppliers alike, so a bill names its supplier with ``contact`` (the
canonical ``vendor`` field is for books that keep suppliers apart, as QBO does), and a
payment names the invoice it pays (``invoice``) or, paid to a supplier, the bill (``bill``).
New credit notes are customer credit notes (ACCRECCREDIT).

Reading: pages of 100 (``page=N``); incremental reads use ``If-Modified-Since`` where the
API has it; the cursor is ``<UpdatedDateUTC in ms>|<keys seen at that moment>`` so that
nothing at the boundary is read twice or missed (the read asks from a second before the
cursor and leaves out what the cursor says was seen). Tax rates, tracking options and items are
read in full (no incremental read: Xero has no ``If-Modified-Since`` for the first two and
deleted items leave no trace). Our own writes are remembered and not handed back as changes.

Deletion semantics (Xero's): contacts and accounts are ARCHIVED, documents in DRAFT or
SUBMITTED are DELETED and AUTHORISED ones VOIDED (a PAID one cannot be: its payments must be
deleted first), payments are DELETED, items are deleted. Records in any of these states count
as deleted: reads leave them out and change feeds report them as deletions. Archived tax
rates and tracking options (read-only codes that old documents keep) are records with
``active`` false instead; a DELETED tax rate is gone.

Reading: see :mod:`.reading`; writing: see :mod:`.writing`; both are module functions over
the :class:`~.context.XeroContext` that :meth:`XeroConnector.open` builds.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import httpx

from syncline.connectors.base import (
    Capability,
    ChangeFeed,
    Connector,
    ReadScope,
    WriteBatch,
    WriteResult,
)
from syncline.connectors.retry import (
    Transient,
    send_with_retries,
    status_text,
    transient_answer,
)
from syncline.connectors.xero import reading, writing
from syncline.connectors.xero.auth import TokenKeeper
from syncline.connectors.xero.client import XeroClient, limiter_for
from syncline.connectors.xero.context import XeroContext
from syncline.connectors.xero.settings import XeroSettings, parse_settings
from syncline.connectors.xero.state import XeroState
from syncline.errors import AuthenticationFailed, ConfigError, ConnectorNotOpen, ProtocolError
from syncline.model import BOOKS_STATE_FIELDS, ENTITY_TYPES, Record
from syncline.vault import Vault

__all__ = ["CAPABILITIES", "XeroConnector"]

_FULL = Capability.all()
_READ_ONLY = Capability.READ | Capability.DETECT_DELETES
CAPABILITIES: dict[str, Capability] = {
    "contact": _FULL, "invoice": _FULL, "bill": _FULL, "credit_note": _FULL,
    "payment": _FULL & ~Capability.UPDATE, "ledger_account": _FULL,
    "item": _FULL & ~Capability.INCREMENTAL,
    "tax_rate": _READ_ONLY, "cost_code": _READ_ONLY, "project_code": _READ_ONLY,
}
_FIELDS: dict[str, frozenset[str]] = {
    "contact": frozenset({"name", "first_name", "last_name", "email", "phone", "mobile",
                          "street", "city", "region", "postcode", "country", "archived"}),
    "payment": frozenset({"reference", "invoice", "bill", "contact", "date", "amount",
                          "ledger_account", "status"}),
    "item": frozenset({"code", "name", "description", "unit_price", "cost_price",
                       "ledger_account", "tax_rate", "active"}),
    "ledger_account": frozenset({"code", "name", "type", "description", "tax_rate", "active"}),
    "tax_rate": frozenset({"code", "name", "rate", "active"}),
    "cost_code": frozenset({"code", "name", "active"}),
    "project_code": frozenset({"code", "name", "active"}),
}
_READ_ONLY_FIELDS: dict[str, frozenset[str]] = {
    # computed by Xero, never sent: ``to_xero`` leaves them out
    "invoice": frozenset({"subtotal", "tax_total", "total", *BOOKS_STATE_FIELDS}),
    "bill": frozenset({"subtotal", "tax_total", "total", *BOOKS_STATE_FIELDS}),
    "credit_note": frozenset({"subtotal", "tax_total", "total", *BOOKS_STATE_FIELDS}),
    # a payment's contact is its document's; its status is Xero's
    "payment": frozenset({"contact", "status"}),
    "item": frozenset({"active"}),
}
_DOCUMENT_FIELDS = frozenset({"number", "contact", "date", "due_date", "currency", "status",
                              "reference", "subtotal", "tax_total", "total", "lines",
                              *BOOKS_STATE_FIELDS})


class XeroConnector(Connector):
    """See the module docstring."""

    type_name: ClassVar[str] = "xero"
    description: ClassVar[str] = "Xero accounting (OAuth 2.0, one organisation per endpoint)"

    def __init__(self, endpoint: str, settings: Mapping[str, Any], base_dir: Path) -> None:
        super().__init__(endpoint, settings, base_dir)
        self.config: XeroSettings = parse_settings(endpoint, settings, base_dir)
        self.http = httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0))
        self.vault = Vault(self.config.vault_path, key_file=self.config.key_file)
        self.tokens = TokenKeeper(endpoint, self.config, self.vault, self.http)
        self.tenant_id: str | None = None
        self._context: XeroContext | None = None

    # -- settings and description ------------------------------------------------------------
    @classmethod
    def validate_settings(cls, endpoint: str, settings: Mapping[str, Any]) -> None:
        """Raises: ConfigError naming the offending key."""
        parse_settings(endpoint, settings, Path("."), need_secret=False)

    @classmethod
    def capability_matrix(cls) -> dict[str, Capability]:
        return dict(CAPABILITIES)

    def streams(self) -> dict[str, Capability]:
        return {name: CAPABILITIES[name] for name in self.config.streams}

    def field_names(self, stream: str) -> frozenset[str]:
        self._check(stream)
        names = _FIELDS.get(stream, _DOCUMENT_FIELDS)
        return frozenset(name for name in names if name in ENTITY_TYPES[stream].fields)

    def read_only_fields(self, stream: str) -> frozenset[str]:
        """The fields Xero computes or takes from elsewhere (``to_xero`` never sends them):
        owned by this side of a link."""
        return _READ_ONLY_FIELDS.get(stream, frozenset()) & self.field_names(stream)

    def _check(self, stream: str) -> None:
        if stream not in self.config.streams:
            raise ProtocolError(self.endpoint, f"stream '{stream}' is not configured")

    # -- life cycle ---------------------------------------------------------------------------
    def open(self) -> None:
        """Find the organisation among the connection's and get ready to call it.

        Raises:
            AuthenticationFailed: no token stored, refused, or the organisation is not
                reachable with it.
            EndpointUnavailable: Xero cannot be reached.
            ConfigError: ``tenant`` is missing and the connection reaches several.
        """
        self.tenant_id = self._find_tenant()
        limiter = limiter_for(self.config.api_url, self.tenant_id, self.config.per_minute,
                              self.config.per_day, self.config.concurrent,
                              self.config.time_scale)
        client = XeroClient(self.endpoint, self.config.api_url, self.tenant_id, self.tokens,
                            self.http, limiter, self.config.max_wait,
                            context=lambda: self.context, retries=self.config.retries)
        self._context = XeroContext(self.endpoint, self.config, client,
                                    XeroState(self.config.state_dir),
                                    run_context=lambda: self.context)

    def connections(self) -> list[dict[str, Any]]:
        """The organisations the stored token reaches (``GET /connections``), retried as
        every call is (:mod:`syncline.connectors.retry`).

        Raises:
            AuthenticationFailed: the token is refused (401 even after a refresh, 403).
            EndpointUnavailable: Xero cannot be reached or keeps failing (naming the cause:
                a 500 is "the server failed", never a refusal of our credentials).
            ProtocolError: another answer than a JSON list.
        """
        refreshed = [False]
        url = self.config.connections_url
        what = "GET /connections"

        def once() -> list[dict[str, Any]]:
            token = self.tokens.access_token()
            try:
                response = self.http.get(url, headers={"Authorization": f"Bearer {token}"},
                                         timeout=self.context.timeout(60.0))
            except (httpx.ConnectError, httpx.ConnectTimeout) as error:
                raise Transient(f"no connection for {what} ({error})", sent=False) from None
            except httpx.HTTPError as error:
                raise Transient(f"the connection broke during {what} "
                                f"({error or type(error).__name__})") from None
            status = response.status_code
            if status == 401 and not refreshed[0]:
                refreshed[0] = True
                self.tokens.refresh_now(token)
                return once()
            if status in (401, 403):
                raise AuthenticationFailed(self.endpoint, f"/connections answered "
                                           f"{status_text(status, response.reason_phrase)}: "
                                           f"the access token is refused")
            failure = transient_answer(status, response.reason_phrase, response.headers,
                                       what)
            if failure is not None:
                raise failure
            if status != 200:
                raise ProtocolError(self.endpoint, f"/connections answered "
                                    f"{status_text(status, response.reason_phrase)}")
            try:
                found = response.json()
            except ValueError:
                raise ProtocolError(self.endpoint, "/connections answered a body that is "
                                                   "not JSON") from None
            if not isinstance(found, list):
                raise ProtocolError(self.endpoint, "/connections answered something other "
                                                   "than a list")
            return found

        return send_with_retries(once, endpoint=self.endpoint, context=self.context,
                                 policy=self.config.retries)

    def _find_tenant(self) -> str:
        found = self.connections()
        wanted = self.config.tenant
        if wanted is None:
            if len(found) == 1:
                return str(found[0]["tenantId"]).lower()
            names = ", ".join(f"{c['tenantName']} ({c['tenantId']})" for c in found)
            raise ConfigError(f"the connection reaches {len(found)} organisations; name one "
                              f"with 'tenant': {names or 'none'}",
                              key=f"endpoints.{self.endpoint}.tenant")
        for connection in found:
            if wanted.lower() in (str(connection["tenantId"]).lower(),
                                  str(connection["tenantName"]).lower()):
                return str(connection["tenantId"]).lower()
        raise AuthenticationFailed(self.endpoint, f"the connection does not reach "
                                                  f"organisation '{wanted}'")

    def close(self) -> None:
        if self._context is not None:
            self._context.state.close()
            self._context = None
        self.http.close()

    def _opened(self) -> XeroContext:
        """The context built by :meth:`open`.

        Raises:
            ConnectorNotOpen: before :meth:`open` or after :meth:`close`.
        """
        if self._context is None:
            raise ConnectorNotOpen(self.endpoint)
        return self._context

    @property
    def client(self) -> XeroClient:
        """The organisation's API client. Raises: ConnectorNotOpen (see :meth:`_opened`)."""
        return self._opened().client

    @property
    def state(self) -> XeroState:
        """The connector's state file. Raises: ConnectorNotOpen (see :meth:`_opened`)."""
        return self._opened().state

    def setup(self, streams: Sequence[str]) -> list[str]:
        """Nothing to install; for a link that syncs documents, say how their lines that
        name a product and a ledger account go (see :func:`.writing.line_items_in_force`).

        Raises:
            ConnectorNotOpen, RunError: as reading the organisation's items.
        """
        if not set(streams) & {"invoice", "bill", "credit_note"}:
            return []
        return [writing.line_items_in_force(self._opened(), "item" in streams)]

    # -- reading (see :mod:`.reading`) --------------------------------------------------------
    def read_all(self, stream: str, scope: ReadScope) -> Iterator[list[Record]]:
        self._check(stream)
        yield from reading.read_all(self._opened(), stream, scope)

    def read_keys(self, stream: str, keys: Sequence[str]) -> dict[str, Record]:
        self._check(stream)
        return reading.read_keys(self._opened(), stream, keys)

    def count(self, stream: str) -> int | None:
        return None

    def current_cursor(self, stream: str) -> str | None:
        self._check(stream)
        if not CAPABILITIES[stream] & Capability.INCREMENTAL:
            return None
        return reading.current_cursor(self._opened(), stream)

    def read_changes(self, stream: str, cursor: str, scope: ReadScope) -> ChangeFeed:
        self._check(stream)
        return reading.read_changes(self._opened(), stream, cursor, scope)

    # -- writing (see :mod:`.writing`) --------------------------------------------------------
    def write(self, batch: WriteBatch) -> list[WriteResult]:
        self._check(batch.stream)
        return writing.write(self._opened(), batch)

    def recover(self, batch: WriteBatch) -> list[WriteResult] | None:
        return writing.recover(self._opened(), batch)
