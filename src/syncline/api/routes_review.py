"""What needs a person: errors (grouped by cause) and warnings to review, retry of the
records that could not go, conflicts to resolve, and the xref tables the posting rules
look codes up in.

Roles: reading needs ``viewer``; retry and resolving conflicts ``operator``; editing xref
entries ``admin``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status

from syncline.api.auth import Admin, Context, Operator, Viewer
from syncline.api.models import ResolveBody, RetryBody, RowId, RowIdQuery, XrefBody, jsonable
from syncline.api.routes_links import check_link, check_streams, trigger_answer
from syncline.service import RunMode, Trigger
from syncline.service.conflict_view import SharedFields, compare_fields, differing_names
from syncline.service.review import (
    JournalFilter,
    blocked_groups,
    groups_json,
    journal_rows,
    waiting_streams,
    xref_tables,
)
from syncline.service.stores import rules_of

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["review"])


@router.get("/links/{link}/errors", summary="Records that could not go, grouped by cause "
            "(kind, field, value), with their keys")
def errors(link: str, context: Context, _user: Viewer,
           stream: str | None = None) -> list[dict[str, Any]]:
    settings = check_link(context, link)
    if stream is not None:
        check_streams(link, settings, [stream])
    return groups_json(blocked_groups(context.store, link, stream))


@router.get("/links/{link}/warnings", summary="Journal rows with warnings, newest first")
def warnings(link: str, context: Context, _user: Viewer, run: RowIdQuery = None,
             stream: str | None = None,
             limit: Annotated[int, Query(ge=1, le=5000)] = 200) -> list[dict[str, Any]]:
    settings = check_link(context, link)
    if stream is not None:
        check_streams(link, settings, [stream])
    rows = journal_rows(context.store, JournalFilter(link=link, run_id=run, stream=stream,
                                                     outcome="warning", limit=limit))
    return [jsonable(row) for row in rows]


@router.post("/links/{link}/retry", status_code=status.HTTP_202_ACCEPTED,
             summary="Retry the records that could not go (runs their streams now)")
def retry(link: str, body: RetryBody, context: Context, user: Operator) -> dict[str, Any]:
    settings = check_link(context, link)
    check_streams(link, settings, body.streams)
    waiting = waiting_streams(context.store, link, body.streams)
    streams = list(waiting)
    if not streams:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"link '{link}' has no records waiting to be retried"
                            + (f" in {', '.join(body.streams)}" if body.streams else ""))
    controls = context.controls.controls(link)
    if controls.paused or set(streams) <= controls.paused_streams:
        raise HTTPException(status.HTTP_409_CONFLICT, f"link '{link}' is paused; resume it "
                            f"first")
    result = context.service.trigger(link, RunMode.INCREMENTAL, streams,
                                     requested_by=user.name, trigger=Trigger.API)
    retried = sum(waiting.values())
    return {"retrying": retried, "streams": streams,
            "run": trigger_answer(result).model_dump()}


@router.get("/links/{link}/conflicts", summary="Conflicts of a link (open ones by default); "
            "differing: the fields both sides map whose values differ")
def conflicts(link: str, context: Context, _user: Viewer,
              state: Literal["open", "resolved", "applied", "all"] = "open",
              ) -> list[dict[str, Any]]:
    check_link(context, link)
    rows = context.store.conflicts(link, status=None if state == "all" else state)
    shared = SharedFields(context.config, link)
    return [{**jsonable(row),
             "differing": differing_names(compare_fields(row, shared.of(str(row["stream"]))))}
            for row in rows]


@router.post("/links/{link}/conflicts/{conflict_id}/resolve",
             summary="Resolve an open conflict by side (written by the next run)")
def resolve(link: str, conflict_id: RowId, body: ResolveBody, context: Context,
            user: Operator) -> dict[str, Any]:
    settings = check_link(context, link)
    found = context.store.conflicts(link, conflict_id=conflict_id)
    if not found:
        open_ids = ", ".join(str(row["id"]) for row in context.store.conflicts(link))
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"link '{link}' has no open conflict "
                            f"{conflict_id}; open: {open_ids or 'none'}")
    context.store.resolve_conflict(conflict_id, {"side": body.side}, user.name)
    answer: dict[str, Any] = {"conflict": conflict_id, "side": body.side,
                              "winner": settings.a if body.side == "a" else settings.b,
                              "resolved_by": user.name, "run": None}
    if body.run_now:
        answer["run"] = trigger_answer(context.service.trigger(
            link, requested_by=user.name, trigger=Trigger.API)).model_dump()
    return answer


@router.get("/links/{link}/xref", summary="Xref entries stored for a link")
def xref_list(link: str, context: Context, _user: Viewer,
              table: str | None = None) -> list[dict[str, Any]]:
    check_link(context, link)
    return [{"table": entry.table, "local": entry.local_value, "remote": entry.remote_value,
             "updated_at": jsonable(entry.updated_at), "updated_by": entry.updated_by}
            for entry in rules_of(context.store).xref_entries(link, table)]


def _xref_table(context: Context, link: str, table: str) -> None:
    settings = check_link(context, link)
    tables = xref_tables(settings)
    if table not in tables:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"link '{link}' has no xref table "
                            f"'{table}'; its rules use: {', '.join(tables) or 'none'}")


@router.put("/links/{link}/xref/{table}/{local}", summary="Set an xref entry")
def xref_set(link: str, table: str, local: str, body: XrefBody, context: Context,
             user: Admin) -> dict[str, Any]:
    _xref_table(context, link, table)
    replaced = rules_of(context.store).set_xref(link, table, local, body.remote, user.name)
    return {"table": table, "local": local, "remote": body.remote, "replaced": replaced}


@router.delete("/links/{link}/xref/{table}/{local}", summary="Remove an xref entry")
def xref_remove(link: str, table: str, local: str, context: Context,
                _user: Admin) -> dict[str, Any]:
    _xref_table(context, link, table)
    if not rules_of(context.store).remove_xref(link, table, local):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{table} has no stored entry for "
                            f"'{local}'")
    return {"table": table, "local": local, "removed": True}
