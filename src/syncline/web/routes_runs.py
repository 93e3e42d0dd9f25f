"""Run history and the journal (``viewer``).

* ``GET /runs`` — the runs of every link, newest first; ``GET /links/{link}/runs`` one link's;
* ``GET /links/{link}/journal`` — journal rows with filters: ``run``, ``stream``, ``action``
  (A / M / D / R), ``outcome`` (ok / warning / error / skipped) and ``key`` (a part of the
  record's key on either side). An htmx request (``HX-Request``) gets the rows table alone,
  so the filters apply without reloading the page.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from syncline.service.review import JournalFilter, journal_rows
from syncline.web.common import check_link, context, render
from syncline.web.session import WebSession, viewer
from syncline.web.views import total_counts

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

Viewer = Annotated[WebSession, Depends(viewer)]
ACTIONS = ("A", "M", "D", "R")
OUTCOMES = ("ok", "warning", "error", "skipped")
PAGE = 200


def _runs(request: Request, link: str | None, limit: int = 100) -> list[dict[str, Any]]:
    rows = context(request).store.runs(link, limit=limit)
    for row in rows:
        row["total"] = total_counts(row.get("counts"))
    return rows


@router.get("/runs", response_class=HTMLResponse)
def all_runs(request: Request, session: Viewer) -> Response:
    return render(request, "runs.html", session, link=None, runs=_runs(request, None))


@router.get("/links/{link}/runs", response_class=HTMLResponse)
def link_runs(request: Request, link: str, session: Viewer) -> Response:
    check_link(request, link)
    return render(request, "runs.html", session, link=link, runs=_runs(request, link))


def _older(link: str, wanted: JournalFilter, rows: list[dict[str, Any]]) -> str | None:
    """The address of the next (older) page with the same filters; ``None`` on the last."""
    if len(rows) < wanted.limit:
        return None
    query = {"run": wanted.run_id, "stream": wanted.stream, "action": wanted.action,
             "outcome": wanted.outcome, "key": wanted.key, "before": rows[-1]["id"]}
    return f"/links/{link}/journal?" + urlencode(
        {name: value for name, value in query.items() if value is not None})


def _busy(request: Request, link: str) -> bool:
    """Whether a run of ``link`` goes on or waits (the rows then refresh by themselves)."""
    status = context(request).service.status(link)[0]
    return bool(status["running"] or status["queued"])


def _choice(value: str | None, allowed: tuple[str, ...]) -> str | None:
    return value if value in allowed else None


@router.get("/links/{link}/journal", response_class=HTMLResponse)
def journal(request: Request, link: str, session: Viewer, run: str = "", stream: str = "",
            action: str = "", outcome: str = "", key: str = "", before: str = "") -> Response:
    settings = check_link(request, link)
    ctx = context(request)
    run_id = int(run) if run.isdigit() else None
    wanted = JournalFilter(
        link=link, run_id=run_id, action=_choice(action, ACTIONS),
        outcome=_choice(outcome, OUTCOMES),
        stream=stream if stream in settings.streams else None, key=key.strip() or None,
        before_id=int(before) if before.isdigit() else None, limit=PAGE)
    rows = journal_rows(ctx.store, wanted)
    found = ctx.store.runs(None, run_id=run_id, limit=1) if run_id is not None else []
    values: dict[str, Any] = {"link": link, "settings": settings, "rows": rows, "filter": wanted,
              "run": found[0] if found else None, "page": PAGE,
              "older": _older(link, wanted, rows),
              "actions": ACTIONS, "outcomes": OUTCOMES, "running": _busy(request, link),
              "here": request.url.path + (f"?{request.url.query}" if request.url.query else "")}
    template = "_journal_rows.html" if request.headers.get("hx-request") else "journal.html"
    return render(request, template, session, **values)
