"""One SANDBOX company's data: entities, SyncTokens, change times, deletions, request ids.

Terms:

company
    One QBO company file, named by its ``realmId``. Every object has an ``Id`` (numbers
    counted per company), a ``SyncToken`` (``"0"`` on create, plus one on every change: the
    optimistic-concurrency version) and ``MetaData`` (``CreateTime``, ``LastUpdatedTime``,
    to the second, in the company's time zone, as QBO shows them).
clock
    The company's "now": the real time plus an offset tests may move (:meth:`Clock.advance`),
    so a CDC cursor can become older than the 30-day window without waiting a month.
tombstone
    The Id and time of a deleted transaction, kept for the change data capture answer.
request id
    The ``requestid`` query parameter: a request repeated with a request id the company has
    seen gets the stored answer of the first one, and nothing is done again.

All methods hold the company's lock; the HTTP layer calls them from worker threads.
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from syncline.sandbox.qbo.entities import (
    ENTITIES,
    EntityKind,
    complete,
    rename_references,
    to_decimal,
)
from syncline.sandbox.qbo.faults import FaultCode, QboFault, not_found, stale_object
from syncline.sandbox.qbo.matching import (
    lookup_path,
    matches,
    projected,
    sort_key,
)
from syncline.sandbox.qbo.query import Query

__all__ = ["CDC_WINDOW", "Clock", "Company", "format_time"]

CDC_WINDOW = timedelta(days=30)
"""How far back change data capture reaches."""


def format_time(moment: datetime, zone: timezone, *, fraction: bool = False) -> str:
    """QBO's time text: ``2026-11-22T07:40:01-07:00`` (milliseconds with ``fraction``)."""
    local = moment.astimezone(zone)
    text = local.isoformat(timespec="milliseconds" if fraction else "seconds")
    return text.replace("+00:00", "Z") if zone == UTC else text


@dataclass
class Clock:
    """Real UTC time plus an adjustable offset (see the module docstring)."""

    offset: timedelta = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


@dataclass
class Company:
    """One sandbox company (see the module docstring)."""

    realm_id: str
    zone: timezone = timezone(timedelta(hours=-7))
    clock: Clock = field(default_factory=Clock)
    objects: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {name: {} for name in ENTITIES})
    changed: dict[str, dict[str, datetime]] = field(
        default_factory=lambda: {name: {} for name in ENTITIES})
    tombstones: dict[str, dict[str, datetime]] = field(
        default_factory=lambda: {name: {} for name in ENTITIES})
    answers: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    lock: threading.RLock = field(default_factory=threading.RLock)

    # -- time ---------------------------------------------------------------------------------
    def now(self) -> datetime:
        """The company's current moment, to the second (as QBO stores change times)."""
        return self.clock.now().replace(microsecond=0)

    def time_text(self) -> str:
        """The ``time`` every answer carries (with milliseconds)."""
        return format_time(self.clock.now(), self.zone, fraction=True)

    def today(self) -> date:
        return self.clock.now().astimezone(self.zone).date()

    # -- reading ------------------------------------------------------------------------------
    def lookup(self, entity: str, entity_id: str) -> dict[str, Any] | None:
        with self.lock:
            return self.objects[entity].get(entity_id)

    def read(self, entity: str, entity_id: str) -> dict[str, Any]:
        """A copy of one object (inactive list objects included).

        Raises:
            QboFault: 610 when there is no such object (or it was deleted).
        """
        with self.lock:
            found = self.objects[entity].get(entity_id)
            if found is None:
                raise not_found(entity, entity_id)
            return copy.deepcopy(found)

    def single(self, entity: str) -> dict[str, Any]:
        """A copy of the company's one object of ``entity`` (CompanyInfo, Preferences).

        Raises:
            QboFault: 610 when the company has none (a company made without seed data).
        """
        with self.lock:
            found = next(iter(self.objects[entity].values()), None)
            if found is None:
                raise not_found(entity, self.realm_id)
            return copy.deepcopy(found)

    def query(self, query: Query) -> dict[str, Any]:
        """The ``QueryResponse`` of a parsed query.

        Raises:
            QboFault: 4001 for an unknown entity or a property that cannot be queried.
        """
        spec = next((s for s in ENTITIES.values() if s.name.lower() == query.entity.lower()),
                    None)
        if spec is None:
            raise QboFault(FaultCode.QUERY_VALIDATION, "Invalid query",
                           f"QueryValidationError: Invalid entity name '{query.entity}'")
        known = {name.lower() for name in spec.properties}
        paths = [c.path for c in query.conditions] + [o.path for o in query.ordering]
        paths += [tuple(name.split(".")) for name in query.fields or ()]
        for path in paths:
            if path[0].lower() not in known:
                raise QboFault(FaultCode.QUERY_VALIDATION, "Invalid query",
                               f"QueryValidationError: property '{'.'.join(path)}' "
                               f"is not queryable on {spec.name}")
        with self.lock:
            found = [item for item in self.objects[spec.name].values()
                     if all(matches(item, c) for c in query.conditions)]
            if spec.kind is not EntityKind.TRANSACTION and not query.mentions("Active"):
                found = [item for item in found if item.get("Active", True) is not False]
            if query.count:
                return {"totalCount": len(found)}
            ordering = query.ordering or []
            found.sort(key=lambda item: sort_key(item["Id"]))
            for order in reversed(ordering):
                path = order.path
                found.sort(key=lambda item: sort_key(lookup_path(item, path)),
                           reverse=order.descending)
            limit = min(query.max_results or 100, 1000)
            page = found[query.start - 1:query.start - 1 + limit]
            if not page:
                return {}
            return {spec.name: [projected(item, query.fields) for item in page],
                    "startPosition": query.start, "maxResults": len(page)}

    def changes(self, entities: list[str], since: datetime, limit: int = 1000
                ) -> list[dict[str, Any]]:
        """The change data capture answer: per entity a ``QueryResponse`` of the objects
        changed at or after ``since`` (deleted ones as ``{"Id", "status": "Deleted"}``),
        oldest first, at most ``limit`` objects per entity.

        Raises:
            QboFault: 2010 when ``since`` is older than the 30-day window or an entity is
                unknown.
        """
        if since < self.clock.now() - CDC_WINDOW:
            raise QboFault(FaultCode.INVALID_PROPERTY, "Request has invalid or unsupported "
                           "property", f"changedSince {format_time(since, self.zone)} is "
                           f"older than 30 days; change data capture reaches back 30 days "
                           f"only", element="changedSince")
        answer: list[dict[str, Any]] = []
        with self.lock:
            for name in entities:
                if name not in ENTITIES or ENTITIES[name].kind is EntityKind.READ_ONLY:
                    why = "unknown entity" if name not in ENTITIES else \
                        "change data capture does not cover"
                    raise QboFault(FaultCode.INVALID_PROPERTY, "Request has invalid or "
                                   "unsupported property", f"entities: {why} '{name}'",
                                   element="entities")
                rows: list[tuple[datetime, dict[str, Any]]] = []
                for entity_id, moment in self.changed[name].items():
                    if moment >= since:
                        rows.append((moment, copy.deepcopy(self.objects[name][entity_id])))
                for entity_id, moment in self.tombstones[name].items():
                    if moment >= since:
                        rows.append((moment, {"domain": "QBO", "status": "Deleted",
                                              "Id": entity_id, "MetaData": {
                                                  "LastUpdatedTime": format_time(moment,
                                                                                 self.zone)}}))
                rows.sort(key=lambda row: (row[0], sort_key(row[1]["Id"])))
                found = [row for _, row in rows[:limit]]
                answer.append({name: found, "startPosition": 1, "maxResults": len(found)}
                              if found else {})
        return answer

    # -- writing ------------------------------------------------------------------------------
    def _stamp(self, entity: str, item: dict[str, Any], *, created: bool) -> None:
        moment = self.now()
        text = format_time(moment, self.zone)
        meta = item.setdefault("MetaData", {})
        if created:
            meta["CreateTime"] = text
        meta["LastUpdatedTime"] = text
        item["domain"] = "QBO"
        item["sparse"] = False
        self.changed[entity][item["Id"]] = moment

    def _check_unique(self, entity: str, item: dict[str, Any]) -> None:
        unique = ENTITIES[entity].unique
        if unique is None:
            return
        value = str(item.get(unique) or "").strip().lower()
        families = ("Customer", "Vendor") if entity in ("Customer", "Vendor") else (entity,)
        for family in families:
            for other in self.objects[family].values():
                if other["Id"] != item.get("Id") \
                        and str(other.get(unique) or "").strip().lower() == value:
                    raise QboFault(FaultCode.DUPLICATE_NAME, "Duplicate Name Exists Error",
                                   f"The name supplied already exists. : {family} Id "
                                   f"{other['Id']} is called '{other.get(unique)}'",
                                   element=unique)

    def _writable(self, entity: str) -> None:
        if ENTITIES[entity].kind is EntityKind.READ_ONLY:
            raise QboFault(FaultCode.UNSUPPORTED_OPERATION, "Unsupported Operation",
                           f"Operation is not supported: {entity} is read-only through the "
                           f"API")

    def create(self, entity: str, body: dict[str, Any], *, setup: bool = False
               ) -> dict[str, Any]:
        """Create an object from ``body``; returns the stored copy. ``setup`` allows
        read-only entities (the company's own set-up, e.g. tax codes).

        Raises:
            QboFault: the body is refused (see :func:`~.entities.complete`), 6240 for a
                duplicate name, 500 for a read-only entity.
        """
        if not setup:
            self._writable(entity)
        with self.lock:
            item = copy.deepcopy(body)
            for name in ("Id", "SyncToken", "MetaData", "sparse"):
                item.pop(name, None)
            complete(entity, item, self.lookup, self.today())
            if ENTITIES[entity].kind is EntityKind.LIST:
                item.setdefault("Active", True)
            self._check_unique(entity, item)
            item["Id"] = str(next(self.numbers))
            item["SyncToken"] = "0"
            if entity in ("Invoice", "Bill") and not item.get("DocNumber"):
                item["DocNumber"] = str(1000 + int(item["Id"]))
            self._stamp(entity, item, created=True)
            self.objects[entity][item["Id"]] = item
            self._after_write(entity, None, item)
            return copy.deepcopy(item)

    def _current(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        entity_id = str(body.get("Id") or "")
        if not entity_id:
            raise QboFault(FaultCode.REQUIRED_PARAMETER, "Required param missing, need to "
                           "supply the required value for the API",
                           f"Required parameter Id is missing in the request ({entity})",
                           element="Id")
        current = self.objects[entity].get(entity_id)
        if current is None:
            raise not_found(entity, entity_id)
        token = body.get("SyncToken")
        if token in (None, ""):
            raise QboFault(FaultCode.REQUIRED_PARAMETER, "Required param missing, need to "
                           "supply the required value for the API",
                           f"Required parameter SyncToken is missing in the request "
                           f"({entity} {entity_id})", element="SyncToken")
        if str(token) != current["SyncToken"]:
            raise stale_object(entity, entity_id, str(token), current["SyncToken"])
        return current

    def update(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        """Update an object: a sparse update (``"sparse": true``) changes the given
        properties only, a full update replaces every writable property.

        Raises:
            QboFault: 2020 without Id or SyncToken, 610 unknown Id, 5010 stale SyncToken,
                or as :meth:`create`.
        """
        self._writable(entity)
        with self.lock:
            current = self._current(entity, body)
            changes = {key: copy.deepcopy(value) for key, value in body.items()
                       if key not in ("Id", "SyncToken", "MetaData", "sparse", "domain")}
            if body.get("sparse") is True:
                item = {**copy.deepcopy(current), **changes}
            else:
                kept: dict[str, Any] = {key: current[key] for key in ("Id", "MetaData")
                                        if key in current}
                item = {**kept, **changes}
            if entity in ("Invoice", "Bill") and "Line" in changes:
                item.pop("Balance", None)
            complete(entity, item, self.lookup, self.today())
            if ENTITIES[entity].kind is EntityKind.LIST:
                item.setdefault("Active", True)
            self._check_unique(entity, item)
            item["SyncToken"] = str(int(current["SyncToken"]) + 1)
            self._stamp(entity, item, created=False)
            self.objects[entity][item["Id"]] = item
            self._after_write(entity, current, item)
            return copy.deepcopy(item)

    def void(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        """Void an invoice (``?operation=void``): it stays, with every amount zero, its
        balance zero and ``Voided`` in its private note.

        Raises:
            QboFault: 500 for anything but an invoice, 6000 for an invoice with payments
                applied, else as :meth:`update` (Id, SyncToken).
        """
        if entity != "Invoice":
            raise QboFault(FaultCode.UNSUPPORTED_OPERATION, "Unsupported Operation",
                           f"Operation Void is not supported for {entity} in this sandbox")
        with self.lock:
            current = self._current(entity, body)
            if self._paid(current["Id"]) > 0:
                raise QboFault(FaultCode.BUSINESS_VALIDATION, "A business validation error "
                               "has occurred while processing your request",
                               f"Business Validation Error: Invoice {current['Id']} has "
                               f"payments applied; remove them before voiding it",
                               element="LinkedTxn")
            item = copy.deepcopy(current)
            for line in item.get("Line") or ():
                line["Amount"] = 0.0
                for detail in line.values():
                    if isinstance(detail, dict) and "Qty" in detail:
                        detail["Qty"] = 0
            item["TxnTaxDetail"] = {**(item.get("TxnTaxDetail") or {}), "TotalTax": 0.0}
            item.update(TotalAmt=0.0, Balance=0.0, PrivateNote="Voided")
            item["SyncToken"] = str(int(current["SyncToken"]) + 1)
            self._stamp(entity, item, created=False)
            self.objects[entity][item["Id"]] = item
            return copy.deepcopy(item)

    def delete(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        """Delete a transaction (``?operation=delete``). List entities cannot be deleted:
        they are made inactive by an update with ``Active: false``.

        Raises:
            QboFault: 500 for a list or read-only entity, else as :meth:`update`.
        """
        if ENTITIES[entity].kind is not EntityKind.TRANSACTION:
            raise QboFault(FaultCode.UNSUPPORTED_OPERATION, "Unsupported Operation",
                           f"Operation Delete is not supported for {entity}: make it "
                           f"inactive with a sparse update setting Active to false")
        with self.lock:
            current = self._current(entity, body)
            del self.objects[entity][current["Id"]]
            self.changed[entity].pop(current["Id"], None)
            self.tombstones[entity][current["Id"]] = self.now()
            self._after_write(entity, current, None)
            return {"domain": "QBO", "status": "Deleted", "Id": current["Id"]}

    def _paid(self, invoice_id: str) -> Decimal:
        paid = Decimal(0)
        for payment in self.objects["Payment"].values():
            for line in payment.get("Line") or ():
                if any(str(t.get("TxnId")) == invoice_id for t in line.get("LinkedTxn") or ()):
                    paid += to_decimal(line.get("Amount", 0), "Amount")
        return paid

    def _after_write(self, entity: str, before: dict[str, Any] | None,
                     after: dict[str, Any] | None) -> None:
        """Keep invoice balances in step with the payments applied to them, and the names
        in references to a renamed object in step with its name."""
        if before is not None and after is not None:
            rename_references(self.objects, entity, before, after)
        if entity == "Invoice" and after is not None and before is not None:
            after["Balance"] = float(to_decimal(after["TotalAmt"], "TotalAmt")
                                     - self._paid(after["Id"]))
            return
        if entity != "Payment":
            return
        touched: set[str] = set()
        for item in (before, after):
            for line in (item or {}).get("Line") or ():
                touched.update(str(linked.get("TxnId")) for linked in line.get("LinkedTxn")
                               or ())
        for invoice_id in touched:
            invoice = self.objects["Invoice"].get(invoice_id)
            if invoice is None:
                continue
            invoice["Balance"] = float(to_decimal(invoice["TotalAmt"], "TotalAmt")
                                       - self._paid(invoice_id))
            invoice["SyncToken"] = str(int(invoice["SyncToken"]) + 1)
            self._stamp("Invoice", invoice, created=False)

    # -- request ids --------------------------------------------------------------------------
    def answered(self, request_id: str | None) -> tuple[int, dict[str, Any]] | None:
        """The stored answer of an earlier request with ``request_id``, if any."""
        if request_id is None:
            return None
        with self.lock:
            return self.answers.get(request_id)

    def remember(self, request_id: str | None, status: int, body: dict[str, Any]) -> None:
        if request_id is not None:
            with self.lock:
                self.answers[request_id] = (status, copy.deepcopy(body))
