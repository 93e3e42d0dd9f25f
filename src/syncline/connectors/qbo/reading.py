"""Reading QBO: queries paged with STARTPOSITION / MAXRESULTS, and change data capture.

Terms:

cursor
    JSON ``{"since": <time>, "seen": ["<Id>:<SyncToken>" | "<Id>:deleted", ...]}``. ``since``
    is the ``time`` of the CDC answer the cursor was made from, cut to the second (QBO keeps
    change times to the second); ``seen`` lists the states already reported whose change
    time is that very second, so reading from ``since`` inclusively reports nothing twice
    and misses nothing that changed later in the same second.
CDC window
    QBO's change data capture reaches back 30 days. A cursor older than that (by this
    machine's clock, or as QBO answers) raises :class:`~syncline.errors.ProtocolError`
    before any change is returned: the engine then reads everything in full, which also
    finds the deletions CDC can no longer tell (and says so in the run's messages).
deletion
    A deleted transaction (CDC ``"status": "Deleted"``) or an inactive list object
    (``Active: false``; QBO never deletes those).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from syncline.connectors.base import Change, ChangeFeed, ReadScope
from syncline.connectors.qbo.http import ApiClient, FaultError
from syncline.connectors.qbo.mapping import EntityKind, StreamMap, app_link, parse_qbo_time
from syncline.connectors.qbo.state import StateFolder
from syncline.errors import MalformedRecord, ProtocolError
from syncline.model import Record

__all__ = ["CDC_WINDOW", "Reader", "key_number", "quote"]

CDC_WINDOW = timedelta(days=30)
_MARGIN = timedelta(minutes=10)
_KEYS_PER_QUERY = 100


def quote(value: str) -> str:
    """A query string literal (backslash escapes, as QBO's query language has them)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def key_number(key: str) -> tuple[int, str]:
    """How QBO Ids order: numerically (digits), then as text."""
    return (int(key), "") if key.isdigit() else (10**18, key)


def _aware(moment: datetime | None) -> datetime | None:
    """``moment`` with a time zone (UTC when it has none)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _seen_token(item: dict[str, Any]) -> str:
    state = "deleted" if item.get("status") == "Deleted" else str(item.get("SyncToken"))
    return f"{item.get('Id')}:{state}"


class Reader:
    """Reads the streams of one company."""

    def __init__(self, endpoint: str, client: ApiClient, state: StateFolder, *,
                 page_size: int, cdc_limit: int) -> None:
        self.endpoint = endpoint
        self.client = client
        self.state = state
        self.page_size = page_size
        self.cdc_limit = cdc_limit

    # -- records ------------------------------------------------------------------------------
    def record(self, mapping: StreamMap, item: dict[str, Any],
               rates: dict[str, Decimal] | None = None) -> Record:
        """The canonical record of a QBO object.

        Raises:
            MalformedRecord: a value cannot be parsed (names stream and key).
        """
        key = str(item.get("Id"))
        try:
            fields = mapping.to_fields(item)
            changed = (item.get("MetaData") or {}).get("LastUpdatedTime")
            updated = parse_qbo_time(changed) if changed else None
        except (MalformedRecord, ValueError) as error:
            raise MalformedRecord(f"{mapping.stream} {key}: {error}", stream=mapping.stream,
                                  key=key) from None
        if mapping.entity in ("Invoice", "Bill"):
            fields["books_url"] = app_link(self.client.base, self.client.realm, mapping.entity,
                                           key)
        if mapping.stream == "tax_rate":
            details = (item.get("SalesTaxRateList") or {}).get("TaxRateDetail") or ()
            values = [(rates or {}).get(str((d.get("TaxRateRef") or {}).get("value")))
                      for d in details]
            fields["rate"] = sum((v for v in values if v is not None), Decimal(0)) \
                if values else None
        return Record(key, fields, str(item.get("SyncToken")), updated)

    def _rates(self, mapping: StreamMap) -> dict[str, Decimal] | None:
        if mapping.stream != "tax_rate":
            return None
        rates: dict[str, Decimal] = {}
        for page in self.query_pages("TaxRate", []):
            for item in page:
                rates[str(item.get("Id"))] = Decimal(str(item.get("RateValue", 0)))
        return rates

    @staticmethod
    def _gone(mapping: StreamMap, item: dict[str, Any]) -> bool:
        return item.get("status") == "Deleted" or (
            mapping.kind is not EntityKind.TRANSACTION and item.get("Active") is False)

    # -- queries ------------------------------------------------------------------------------
    def query(self, text: str) -> dict[str, Any]:
        """The ``QueryResponse`` of one query.

        Raises:
            ProtocolError: QBO refused the query (a fault) or answered without a
                QueryResponse; RunError subclasses as :meth:`ApiClient.call`.
        """
        try:
            answer = self.client.call("GET", "/query", request_id=uuid.uuid4().hex,
                                      params={"query": text})
        except FaultError as error:
            raise ProtocolError(self.endpoint, f"query {text!r} refused: {error}") from None
        found = answer.get("QueryResponse")
        if not isinstance(found, dict):
            raise ProtocolError(self.endpoint, f"query {text!r}: no QueryResponse in answer")
        return found

    def query_pages(self, entity: str, conditions: list[str]) -> Iterator[list[dict[str, Any]]]:
        """Every object of ``entity`` matching all ``conditions``, ordered by Id, in pages
        of MAXRESULTS ``page_size``."""
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        start = 1
        while True:
            found = self.query(f"SELECT * FROM {entity}{where} ORDERBY Id "
                               f"STARTPOSITION {start} MAXRESULTS {self.page_size}")
            page = found.get(entity) or []
            if page:
                yield page
            if len(page) < self.page_size:
                return
            start += len(page)

    def read_all(self, mapping: StreamMap, scope: ReadScope) -> Iterator[list[Record]]:
        conditions = []
        since, until = _aware(scope.since), _aware(scope.until)
        if since is not None:
            conditions.append(f"MetaData.LastUpdatedTime >= {quote(since.isoformat())}")
        if until is not None:
            conditions.append(f"MetaData.LastUpdatedTime <= {quote(until.isoformat())}")
        if scope.from_key is not None:
            conditions.append(f"Id >= {quote(scope.from_key)}")
        if scope.to_key is not None:
            conditions.append(f"Id <= {quote(scope.to_key)}")
        rates = self._rates(mapping)
        for page in self.query_pages(mapping.entity, conditions):
            yield [self.record(mapping, item, rates) for item in page]

    def read_keys(self, mapping: StreamMap, keys: Sequence[str]) -> dict[str, Record]:
        wanted = list(dict.fromkeys(key for key in keys if key))
        rates = self._rates(mapping) if wanted else None
        found: dict[str, Record] = {}
        for start in range(0, len(wanted), _KEYS_PER_QUERY):
            chunk = wanted[start:start + _KEYS_PER_QUERY]
            listed = ", ".join(quote(key) for key in chunk)
            for page in self.query_pages(mapping.entity, [f"Id IN ({listed})"]):
                for item in page:
                    found[str(item.get("Id"))] = self.record(mapping, item, rates)
        return found

    def raw_objects(self, mapping: StreamMap, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The QBO objects with these Ids, inactive list objects included."""
        found: dict[str, dict[str, Any]] = {}
        wanted = list(dict.fromkeys(keys))
        active = [] if mapping.kind is EntityKind.TRANSACTION else ["Active IN (true, false)"]
        for start in range(0, len(wanted), _KEYS_PER_QUERY):
            listed = ", ".join(quote(key) for key in wanted[start:start + _KEYS_PER_QUERY])
            for page in self.query_pages(mapping.entity, [f"Id IN ({listed})", *active]):
                found.update({str(item.get("Id")): item for item in page})
        return found

    def count(self, mapping: StreamMap) -> int:
        found = self.query(f"SELECT COUNT(*) FROM {mapping.entity}")
        return int(found.get("totalCount", 0))

    # -- change data capture ------------------------------------------------------------------
    def _cdc(self, entity: str, since: datetime) -> tuple[list[dict[str, Any]], datetime]:
        try:
            answer = self.client.call("GET", "/cdc", request_id=uuid.uuid4().hex, params={
                "entities": entity, "changedSince": since.isoformat()})
        except FaultError as error:
            raise ProtocolError(self.endpoint, f"change data capture since "
                                f"{since.isoformat()} refused ({error}); reading everything "
                                f"instead") from None
        try:
            moment = parse_qbo_time(str(answer["time"]))
            responses = answer["CDCResponse"][0]["QueryResponse"]
        except (KeyError, IndexError, TypeError, ValueError):
            raise ProtocolError(self.endpoint, "the change data capture answer lacks "
                                               "CDCResponse or time") from None
        items: list[dict[str, Any]] = []
        for response in responses:
            if isinstance(response, dict):
                items.extend(response.get(entity) or [])
        return items, moment

    def current_cursor(self, mapping: StreamMap) -> str | None:
        """A cursor for "now": QBO's own time (from a count query), and the states already
        changed in that second."""
        if not mapping.incremental:
            return None
        try:
            found = self.client.call("GET", "/query", request_id=uuid.uuid4().hex, params={
                "query": f"SELECT COUNT(*) FROM {mapping.entity}"})
        except FaultError as error:
            raise ProtocolError(self.endpoint, f"count query refused: {error}") from None
        try:
            moment = parse_qbo_time(str(found["time"])).replace(microsecond=0)
        except (KeyError, ValueError):
            raise ProtocolError(self.endpoint, "a query answer lacks its time") from None
        items, _ = self._cdc(mapping.entity, moment)
        return json.dumps({"since": moment.isoformat(),
                           "seen": sorted(_seen_token(item) for item in items)})

    def read_changes(self, mapping: StreamMap, cursor: str, scope: ReadScope,
                     in_range: Any) -> ChangeFeed:
        """The changes since ``cursor`` (see the module docstring). All CDC calls are made
        before this returns, so a refused cursor raises here, never half-way.

        Raises:
            ProtocolError: the cursor is unreadable, older than the CDC window, or refused.
        """
        try:
            parsed = json.loads(cursor)
            since = datetime.fromisoformat(parsed["since"])
            seen = set(parsed.get("seen") or ())
        except (ValueError, KeyError, TypeError):
            raise ProtocolError(self.endpoint, f"cursor {cursor[:80]!r} is not a qbo "
                                               f"cursor; reading everything instead") from None
        if since < datetime.now(UTC) - CDC_WINDOW + _MARGIN:
            raise ProtocolError(self.endpoint, f"cursor {since.isoformat()} is older than "
                                f"QuickBooks Online's 30-day change data capture window; "
                                f"reading everything instead")
        latest: dict[str, dict[str, Any]] = {}
        start = since
        while True:
            items, moment = self._cdc(mapping.entity, start)
            for item in items:
                latest[str(item.get("Id"))] = item
            if len(items) < self.cdc_limit:
                break
            newest = max(parse_qbo_time(str(i["MetaData"]["LastUpdatedTime"])) for i in items)
            if newest <= start:
                raise ProtocolError(self.endpoint, f"more than {self.cdc_limit} changes of "
                                    f"{mapping.entity} in the second {start.isoformat()}; "
                                    f"reading everything instead")
            start = newest
        moment = moment.replace(microsecond=0)
        low, high = _aware(scope.since), _aware(scope.until)
        changes: list[Change] = []
        next_seen: list[str] = []
        rates = self._rates(mapping)
        for key in sorted(latest, key=key_number):
            item = latest[key]
            token = _seen_token(item)
            stamp = (item.get("MetaData") or {}).get("LastUpdatedTime")
            changed = parse_qbo_time(stamp) if stamp else None
            if changed is not None and changed >= moment:
                next_seen.append(token)
            if token in seen or self.state.is_own(mapping.entity, key, token.split(":")[1]):
                continue
            if not in_range(key) or (low is not None and changed is not None and changed < low) \
                    or (high is not None and changed is not None and changed > high):
                continue
            changes.append(Change(key, None if self._gone(mapping, item)
                                  else self.record(mapping, item, rates)))
        size = self.page_size
        feed = ChangeFeed(iter([changes[i:i + size] for i in range(0, len(changes), size)]))
        feed.cursor_holder[0] = json.dumps({"since": moment.isoformat(),
                                            "seen": sorted(next_seen)})
        return feed
