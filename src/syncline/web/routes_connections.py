"""Connections: each endpoint with its connector's capability matrix and a "Test connection"
button, and each link's schedule (editable by admins) and Sync All switch.

* ``GET /connections`` (``viewer``);
* ``POST /endpoints/{name}/test`` — connect, read what the streams can do and how many
  records each holds (``operator``);
* ``POST /links/{link}/schedule`` — ``schedule``, ``on_startup`` and ``stream.NAME``
  overrides (``admin``, see :mod:`syncline.service.schedule_edit`);
* ``POST /links/{link}/sync-all-flag`` — ``enabled`` = 1 / 0 (``admin``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from syncline.api.context import ApiContext
from syncline.errors import SynclineError
from syncline.service.endpoints import Capability, check_connection, describe_endpoint
from syncline.service.schedule_edit import change_schedule
from syncline.web.common import check_link, context, render, see_other
from syncline.web.session import WebSession, admin, operator, viewer

__all__ = ["CAPABILITIES", "EndpointView", "router"]

router = APIRouter(include_in_schema=False)

Viewer = Annotated[WebSession, Depends(viewer)]
Operator = Annotated[WebSession, Depends(operator)]
Admin = Annotated[WebSession, Depends(admin)]

CAPABILITIES = [
    (Capability.READ, "Read"), (Capability.CREATE, "Create"), (Capability.UPDATE, "Update"),
    (Capability.DELETE, "Delete"), (Capability.INCREMENTAL, "Incremental"),
    (Capability.DETECT_DELETES, "Detects deletions"),
]


@dataclass
class EndpointView:
    """One endpoint on the page: its streams' capabilities and, once tested, the result."""

    name: str
    connector: str
    description: str
    streams: dict[str, Capability] = field(default_factory=dict)
    links: list[str] = field(default_factory=list)
    tested: bool = False
    ok: bool = False
    message: str = ""
    counts: dict[str, int | None] = field(default_factory=dict)


def _endpoint(ctx: ApiContext, name: str) -> EndpointView:
    endpoint = ctx.config.endpoints[name]
    view = EndpointView(name, endpoint.connector, "",
                        links=[link for link, settings in ctx.config.links.items()
                               if name in (settings.a, settings.b)])
    try:
        view.description, view.streams = describe_endpoint(ctx.config, name)
    except Exception:  # an endpoint that cannot even be described is shown as such
        view.message = "its settings could not be read"
    return view


def _test(ctx: ApiContext, view: EndpointView) -> EndpointView:
    """Connect to the endpoint and read its streams' capabilities and sizes."""
    checked = check_connection(ctx.config, view.name, ctx.service.factory)
    view.tested, view.ok, view.message = True, checked.ok, checked.message
    if checked.ok:
        view.streams, view.counts = checked.streams, checked.counts
    return view


def _page(request: Request, session: WebSession, tested: EndpointView | None = None,
          error: str | None = None) -> Response:
    ctx = context(request)
    views = [tested if tested is not None and tested.name == name else _endpoint(ctx, name)
             for name in ctx.config.endpoints]
    return render(request, "connections.html", session, endpoints=views,
                  capabilities=CAPABILITIES, settings=ctx.config.links,
                  controls={name: ctx.controls.controls(name) for name in ctx.config.links},
                  error=error)


@router.get("/connections", response_class=HTMLResponse)
def connections(request: Request, session: Viewer) -> Response:
    return _page(request, session)


@router.post("/endpoints/{name}/test", response_class=HTMLResponse)
async def test_connection(request: Request, name: str, session: Operator) -> Response:
    ctx = context(request)
    if name not in ctx.config.endpoints:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no endpoint '{name}'")
    view = await run_in_threadpool(_test, ctx, _endpoint(ctx, name))
    return _page(request, session, tested=view)


@router.post("/links/{link}/schedule")
async def set_schedule(request: Request, link: str, session: Admin) -> RedirectResponse:
    settings = check_link(request, link)
    form = await request.form()
    schedule = form.get("schedule")
    overrides = {stream: str(form.get(f"stream.{stream}") or "") for stream in settings.streams}
    try:
        ctx = context(request)
        change = change_schedule(ctx.config, ctx.store, ctx.service, link,
                                 schedule if isinstance(schedule, str) else "",
                                 bool(form.get("on_startup")), overrides)
    except SynclineError as error:
        return see_other(f"/connections#schedule-{link}", str(error), "error")
    text = f"Schedule of {link}: {change.schedule}" + "".join(
        f"; {stream} {value}" for stream, value in change.overrides.items())
    text += " — saved to the configuration file." if change.saved else \
        f" — applied until the service restarts ({change.reason})."
    return see_other(f"/connections#schedule-{link}", text, "ok")


@router.post("/links/{link}/sync-all-flag")
def sync_all_flag(request: Request, link: str, session: Admin,
                  enabled: Annotated[str, Form()] = "0") -> RedirectResponse:
    check_link(request, link)
    on = enabled == "1"
    context(request).controls.set_sync_all(link, on, user=session.user.name)
    return see_other(f"/connections#schedule-{link}",
                     f"{link} {'takes part in' if on else 'is left out of'} Sync All.")
