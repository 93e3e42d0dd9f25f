"""Runs and their journal (``viewer``): filters by action, outcome, stream and key."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status

from syncline.api.auth import Context, Viewer
from syncline.api.models import ROW_ID_MAX, RowId, RowIdQuery, jsonable
from syncline.api.routes_links import check_link, check_streams
from syncline.service.review import JournalFilter, journal_rows

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["runs"])

Action = Literal["A", "M", "D", "R"]
OutcomeName = Literal["ok", "warning", "error", "skipped"]


@router.get("/links/{link}/runs", summary="Runs of a link, newest first")
def runs(link: str, context: Context, _user: Viewer,
         limit: Annotated[int, Query(ge=1, le=1000)] = 20) -> list[dict[str, Any]]:
    check_link(context, link)
    return [jsonable(row) for row in context.store.runs(link, limit=limit)]


RunOutcomeName = Literal["running", "ok", "warning", "error", "failed"]


@router.get("/runs", summary="Runs of every link (or one), newest first")
def all_runs(context: Context, _user: Viewer, link: str | None = None,
             outcome: RunOutcomeName | None = None,
             limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> list[dict[str, Any]]:
    if link is not None:
        check_link(context, link)
    rows = context.store.runs(link, limit=limit if outcome is None else 1000)
    if outcome is not None:
        rows = [row for row in rows if row["outcome"] == outcome][:limit]
    return [jsonable(row) for row in rows]


@router.get("/runs/{run_id}", summary="One run")
def run(run_id: RowId, context: Context, _user: Viewer) -> dict[str, Any]:
    found = context.store.runs(None, run_id=run_id, limit=1)
    if not found:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no run {run_id}")
    return dict(jsonable(found[0]))


def _journal(context: Context, link: str, run_id: int | None, action: Action | None,
             outcome: OutcomeName | None, stream: str | None, key: str | None,
             before: int | None, limit: int) -> list[dict[str, Any]]:
    settings = check_link(context, link)
    if stream is not None:
        check_streams(link, settings, [stream])
    rows = journal_rows(context.store, JournalFilter(
        link=link, run_id=run_id, action=action, outcome=outcome, stream=stream, key=key,
        before_id=before, limit=limit))
    return [jsonable(row) for row in rows]


@router.get("/links/{link}/journal", summary="Journal rows of a link, newest first")
def link_journal(link: str, context: Context, _user: Viewer,
                 run: RowIdQuery = None, action: Action | None = None,
                 outcome: OutcomeName | None = None, stream: str | None = None,
                 key: Annotated[str | None, Query(
                     description="Rows whose key on either side contains this.")] = None,
                 before: Annotated[int | None, Query(
                     ge=1, le=ROW_ID_MAX,
                     description="Only rows older than this journal row id (paging).")] = None,
                 limit: Annotated[int, Query(ge=1, le=5000)] = 200) -> list[dict[str, Any]]:
    return _journal(context, link, run, action, outcome, stream, key, before, limit)


@router.get("/runs/{run_id}/journal", summary="Journal rows of one run, newest first")
def run_journal(run_id: RowId, context: Context, _user: Viewer,
                action: Action | None = None, outcome: OutcomeName | None = None,
                stream: str | None = None, key: str | None = None,
                before: RowIdQuery = None,
                limit: Annotated[int, Query(ge=1, le=5000)] = 200) -> list[dict[str, Any]]:
    found = context.store.runs(None, run_id=run_id, limit=1)
    if not found:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no run {run_id}")
    return _journal(context, str(found[0]["link"]), run_id, action, outcome, stream, key,
                    before, limit)
