"""What needs a person: records that could not go (grouped by cause, with the fix and
"Retry"), warnings, and conflicts to resolve.

* ``GET /review`` — the first link's review; ``GET /links/{link}/review`` (``viewer``);
* ``POST /links/{link}/xref`` — the fix for a missing cross-reference: store ``local`` ->
  ``remote`` in xref ``table`` (``admin``);
* ``POST /links/{link}/retry`` — run the streams with waiting records now, or one ``stream``
  (``operator``);
* ``POST /links/{link}/conflicts/{id}/resolve`` — keep one side (``side`` = a / b) or choose
  per field (``field.NAME`` = a / b for every field that differs) (``operator``); with
  ``run_now`` the link runs at once and writes the resolution.

A **fix** (see :func:`syncline.service.review.fix_for`) is offered for a missing xref entry.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from syncline.service import RunMode, Trigger
from syncline.service.conflict_view import SharedFields, compare_fields
from syncline.service.review import (
    CauseGroup,
    Fix,
    JournalFilter,
    blocked_groups,
    fix_for,
    journal_rows,
    waiting_streams,
    xref_tables,
)
from syncline.service.stores import rules_of
from syncline.web.common import check_link, context, render, see_other
from syncline.web.session import WebSession, admin, operator, viewer

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

Viewer = Annotated[WebSession, Depends(viewer)]
Operator = Annotated[WebSession, Depends(operator)]
Admin = Annotated[WebSession, Depends(admin)]

_WARNINGS = 100


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return str(value)


def _conflict_view(row: dict[str, Any], shared: SharedFields) -> dict[str, Any]:
    """A conflict row with its ``fields`` compared (see :mod:`syncline.service.conflict_view`):
    ``compared`` is false for a field only one side maps, which never ``differs``."""
    fields = [{"name": view.name, "a": _shown(view.a), "b": _shown(view.b),
               "compared": view.compared, "differs": view.differs}
              for view in compare_fields(row, shared.of(str(row["stream"])))]
    return {**row, "fields": fields}


@router.get("/review")
def first_review(request: Request, _session: Viewer) -> RedirectResponse:
    links = list(context(request).config.links)
    if not links:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no links are configured")
    return RedirectResponse(f"/links/{links[0]}/review", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/links/{link}/review", response_class=HTMLResponse)
def review(request: Request, link: str, session: Viewer) -> Response:
    settings = check_link(request, link)
    ctx = context(request)
    tables = xref_tables(settings)
    groups: list[tuple[CauseGroup, Fix | None]] = [
        (group, fix_for(group.text, tables)) for group in blocked_groups(ctx.store, link)]
    warnings = journal_rows(ctx.store, JournalFilter(link=link, outcome="warning",
                                                     limit=_WARNINGS))
    shared = SharedFields(ctx.config, link)
    conflicts = [_conflict_view(row, shared) for row in ctx.store.conflicts(link)]
    return render(request, "review.html", session, link=link, settings=settings,
                  groups=groups, warnings=warnings, conflicts=conflicts,
                  pending_streams=sorted({group.stream for group, _ in groups}))


@router.post("/links/{link}/xref")
def add_xref(request: Request, link: str, session: Admin, table: Annotated[str, Form()],
             local: Annotated[str, Form()], remote: Annotated[str, Form()] = ""
             ) -> RedirectResponse:
    settings = check_link(request, link)
    back = f"/links/{link}/review"
    if table not in xref_tables(settings):
        return see_other(back, f"{link} has no xref table '{table}'.", "error")
    remote = remote.strip()
    if not remote or len(remote) > 255:
        return see_other(back, f"Enter the {table.replace('_', ' ')} for '{local}'.", "error")
    rules_of(context(request).store).set_xref(link, table, local, remote, session.user.name)
    return see_other(back, f"{table.replace('_', ' ')}: '{local}' now maps to '{remote}'. "
                           f"Press Retry to send the waiting records.")


@router.post("/links/{link}/retry")
def retry(request: Request, link: str, session: Operator,
          stream: Annotated[str, Form()] = "") -> RedirectResponse:
    check_link(request, link)
    ctx = context(request)
    back = f"/links/{link}/review"
    waiting = list(waiting_streams(ctx.store, link, [stream] if stream else []))
    if not waiting:
        return see_other(back, "No records are waiting to be retried.", "error")
    result = ctx.service.trigger(link, RunMode.INCREMENTAL, waiting,
                                 requested_by=session.user.name, trigger=Trigger.API)
    if result.status.value == "paused":
        return see_other(back, f"{link} is paused: resume it first.", "error")
    return see_other(back, f"Retrying {', '.join(waiting)} of {link}: the run has "
                           f"{result.status.value}.")


@router.post("/links/{link}/conflicts/{conflict_id}/resolve")
async def resolve(request: Request, link: str, conflict_id: int,
                  session: Operator) -> RedirectResponse:
    settings = check_link(request, link)
    ctx = context(request)
    back = f"/links/{link}/review#conflicts"
    found = ctx.store.conflicts(link, conflict_id=conflict_id)
    if not found:
        return see_other(back, f"Conflict {conflict_id} is no longer open.", "error")
    row = _conflict_view(found[0], SharedFields(ctx.config, link))
    form = await request.form()
    side = form.get("side")
    resolution: dict[str, Any]
    if side in ("a", "b"):
        resolution = {"side": side}
        said = f"kept {settings.a if side == 'a' else settings.b}'s version"
    else:
        chosen: dict[str, Any] = {}
        missing = []
        sources = {"a": found[0].get("a_fields") or {}, "b": found[0].get("b_fields") or {}}
        for item in row["fields"]:
            pick = form.get(f"field.{item['name']}")
            if pick in ("a", "b"):
                chosen[item["name"]] = sources[str(pick)].get(item["name"])
            elif item["differs"]:
                missing.append(item["name"])
        if missing:
            return see_other(back, f"Choose a side for {', '.join(missing)} of conflict "
                                   f"{conflict_id}.", "error")
        resolution = {"fields": chosen}
        said = "chose the fields"
    ctx.store.resolve_conflict(conflict_id, resolution, session.user.name)
    text = f"Conflict {conflict_id} ({row['stream']} {row['a_key']}): {said}."
    if form.get("run_now"):
        result = ctx.service.trigger(link, requested_by=session.user.name, trigger=Trigger.API)
        text += f" A run of {link} has {result.status.value} to write it."
    else:
        text += " The next run writes it."
    return see_other(back, text)
