"""Reading Xero streams over a :class:`~syncline.connectors.xero.context.XeroContext`.

Terms:

page
    Up to 100 Xero objects of one answer (``page=N``; an unpaged collection's one answer is
    served in pages of 100 too).
cursor
    ``<UpdatedDateUTC in ms>|<keys seen at that moment>``: an incremental read asks from a
    second before the moment and leaves out the keys the cursor says were seen, so nothing
    at the boundary is read twice or missed.
gone
    An object in a deleted state (archived, voided, deleted: :func:`.mapping.is_gone`):
    full reads leave it out, change feeds report it as a deletion.

The read rules themselves (which collections take ``If-Modified-Since``, what is read in
full) are described in :mod:`syncline.connectors.xero.connector`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from syncline.connectors.base import Change, ChangeFeed, ReadScope
from syncline.connectors.xero.context import XeroContext
from syncline.connectors.xero.mapping import STREAMS, from_xero, is_gone, key_of, updated_ms
from syncline.errors import ProtocolError
from syncline.model import Record

__all__ = [
    "current_cursor",
    "fetch",
    "read_all",
    "read_changes",
    "read_keys",
    "records",
]

IDS_PER_CALL = 50
"""The most keys one read by key asks for (``IDs=`` or a ``where`` clause)."""
_PAGE = 100
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _iso(millis: int) -> str:
    """The ``If-Modified-Since`` text of a cursor: UTC with its offset, as xero-python sends
    it (``2024-01-31T09:30:00.123+00:00``), never a bare local-looking time."""
    moment = _EPOCH + timedelta(milliseconds=millis)
    return moment.isoformat(timespec="milliseconds")


def _get(context: XeroContext, path: str, params: dict[str, Any],
         since: int | None = None) -> Any:
    """One GET of the Accounting API, its JSON object answer.

    Raises:
        ProtocolError: an answer other than HTTP 200 with a JSON object.
        AuthenticationFailed, EndpointUnavailable: as :meth:`.client.XeroClient.call`.
    """
    headers = {"If-Modified-Since": _iso(since)} if since is not None else None
    answer = context.client.call("GET", path, params=params, headers=headers)
    if answer.status != 200 or not isinstance(answer.body, dict):
        raise ProtocolError(context.endpoint, f"GET {path} answered HTTP {answer.status}: "
                                              f"{str(answer.body)[:300]}")
    return answer.body


def fetch(context: XeroContext, stream: str, *, since: int | None = None,
          ids: Sequence[str] = (), newest_first: bool = False,
          ) -> Iterator[list[dict[str, Any]]]:
    """The stream's Xero objects in pages (gone ones included): changed since ``since`` (ms)
    where the collection allows it, only ``ids`` when given, newest first (first page only)
    when asked.

    Raises:
        ProtocolError, AuthenticationFailed, EndpointUnavailable: as :func:`_get`.
    """
    spec = STREAMS[stream]
    if spec.collection == "TrackingCategories":
        category = context.settings.tracking[stream].lower()
        body = _get(context, "/TrackingCategories", {"includeArchived": "true"})
        # an option of an archived category is archived too
        options = [dict(option, TrackingCategoryID=found["TrackingCategoryID"],
                        Status=option.get("Status") if found.get("Status") == "ACTIVE"
                        else found.get("Status"))
                   for found in body.get("TrackingCategories", [])
                   if str(found.get("Name", "")).lower() == category
                   for option in found.get("Options", [])]
        yield [o for o in options if not ids or key_of(stream, o) in ids]
        return
    params: dict[str, Any] = {}
    if spec.where:
        params["where"] = spec.where
    if spec.collection == "Contacts":
        params["includeArchived"] = "true"
    if newest_first:
        params["order"] = "UpdatedDateUTC DESC"
    if not spec.paged:
        body = _get(context, f"/{spec.collection}", params, since)
        objects = body.get(spec.collection, [])
        if ids:
            wanted = set(ids)
            objects = [o for o in objects if key_of(stream, o) in wanted]
        for start in range(0, len(objects), _PAGE):  # one answer, served in pages
            yield objects[start:start + _PAGE]
        return
    if ids and spec.by_ids:
        params["IDs"] = ",".join(ids)
    elif ids:  # no IDs parameter (Payments, CreditNotes): a where clause
        assert spec.where is None
        params["where"] = " OR ".join(f'{spec.id_field}==Guid("{key}")' for key in ids)
    page = 1
    while True:
        body = _get(context, f"/{spec.collection}", {**params, "page": page}, since)
        objects = body.get(spec.collection, [])
        if objects:
            yield objects
        if len(objects) < _PAGE or newest_first:
            return
        page += 1


def records(context: XeroContext, stream: str, objects: list[dict[str, Any]]) -> list[Record]:
    """The canonical records of ``objects``, gone ones left out."""
    return [from_xero(stream, obj, context.settings.tracking) for obj in objects
            if not is_gone(stream, obj)]


def read_all(context: XeroContext, stream: str, scope: ReadScope) -> Iterator[list[Record]]:
    """Pages of the stream's records within ``scope`` (see
    :meth:`~syncline.connectors.base.Connector.read_all`).

    Raises:
        ProtocolError, AuthenticationFailed, EndpointUnavailable: as :func:`fetch`.
    """
    since = int((scope.since - _EPOCH).total_seconds() * 1000) \
        if scope.since is not None and STREAMS[stream].modified_since else None
    for objects in fetch(context, stream, since=since):
        page = [record for record in records(context, stream, objects)
                if scope.covers_key(record.key)
                and (scope.until is None or record.updated_at is None
                     or record.updated_at <= scope.until)
                and (scope.since is None or record.updated_at is None
                     or record.updated_at >= scope.since)]
        if page:
            yield page


def read_keys(context: XeroContext, stream: str, keys: Sequence[str]) -> dict[str, Record]:
    """The records of ``keys`` that exist and are not gone, by key, in the order asked.

    Raises:
        ProtocolError, AuthenticationFailed, EndpointUnavailable: as :func:`fetch`.
    """
    found: dict[str, Record] = {}
    wanted = [key for key in dict.fromkeys(keys) if key]
    for start in range(0, len(wanted), IDS_PER_CALL):
        chunk = wanted[start:start + IDS_PER_CALL]
        if STREAMS[stream].paged and any(not _uuid_like(key) for key in chunk):
            chunk = [key for key in chunk if _uuid_like(key)]
            if not chunk:
                continue
        for objects in fetch(context, stream, ids=chunk):
            for record in records(context, stream, objects):
                if record.key in chunk:
                    found[record.key] = record
    return {key: found[key] for key in wanted if key in found}


def current_cursor(context: XeroContext, stream: str) -> str:
    """The cursor of the stream's newest change (see the module docstring).

    Raises:
        ProtocolError, AuthenticationFailed, EndpointUnavailable: as :func:`fetch`.
    """
    newest, keys = 0, []
    for objects in fetch(context, stream, newest_first=True):
        for obj in objects:
            millis = updated_ms(obj) or 0
            key = key_of(stream, obj)
            if millis > newest:
                newest, keys = millis, [key]
            elif millis == newest:
                keys.append(key)
    return f"{newest}|{','.join(keys)}"


def read_changes(context: XeroContext, stream: str, cursor: str,
                 scope: ReadScope) -> ChangeFeed:
    """The changes after ``cursor`` (our own writes left out), in batches of 100, and the
    new cursor.

    Raises:
        ProtocolError: ``cursor`` is not a xero cursor; or as :func:`fetch`.
        AuthenticationFailed, EndpointUnavailable: as :func:`fetch`.
    """
    try:
        text, _, boundary_text = cursor.partition("|")
        after = int(text)
    except ValueError:
        raise ProtocolError(context.endpoint, f"'{cursor}' is not a xero cursor") from None
    boundary = set(filter(None, boundary_text.split(",")))
    newest: dict[str, tuple[int, dict[str, Any]]] = {}
    # ask from a second earlier: whether Xero compares inclusively or exclusively, or
    # to the second, nothing at the boundary is missed (what was seen is skipped below)
    for objects in fetch(context, stream, since=max(0, after - 1000)):
        for obj in objects:
            key = key_of(stream, obj)
            millis = updated_ms(obj) or 0
            if millis < after or (millis == after and key in boundary):
                continue
            if key not in newest or newest[key][0] <= millis:
                newest[key] = (millis, obj)
    top = max([after, *(millis for millis, _ in newest.values())])
    top_keys = {key for key, (millis, _) in newest.items() if millis == top}
    if top == after:
        top_keys |= boundary
    own = context.state.own_writes(stream, list(newest))
    changes: list[Change] = []
    for key, (millis, obj) in sorted(newest.items(), key=lambda item: item[1][0]):
        if (key, str(millis)) in own or not scope.covers_key(key):
            continue
        if is_gone(stream, obj):
            changes.append(Change(key, None))
        else:
            changes.append(Change(key, from_xero(stream, obj, context.settings.tracking)))
    feed = ChangeFeed(iter([changes[i:i + 100] for i in range(0, len(changes), 100)]))
    feed.cursor_holder[0] = f"{top}|{','.join(sorted(top_keys))}"
    return feed


def _uuid_like(key: str) -> bool:
    return len(key) == 36 and key.count("-") == 4
