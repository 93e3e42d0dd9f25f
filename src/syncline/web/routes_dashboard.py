"""Signing in and out, the dashboard, starting syncs, and live progress.

Pages and actions (the role each needs):

* ``GET /login``, ``POST /login``, ``POST /logout`` — anyone; signing in needs the sign-in
  form token (403 without it) and is throttled (429 with ``Retry-After`` while the account or
  the address is locked; see :mod:`syncline.web.throttle`);
* ``GET /`` — the dashboard: a card per link (``viewer``); ``GET /links/{link}/card`` the
  same card alone (htmx refreshes it when a run ends);
* ``POST /links/{link}/sync`` — Sync now, or with ``stream`` one stream only (``operator``);
* ``POST /links/{link}/pause`` / ``resume`` — a link or one ``stream`` (``operator``);
* ``POST /links/{link}/force-sync`` — Force Sync: a full run (``admin``);
* ``POST /sync-all`` — Sync All: every link switched on for it (off by default) and not
  paused (``admin``);
* ``GET /events`` — progress of every link as server-sent events (``viewer``): the
  events of :mod:`syncline.api.progress`, each with its kind as the SSE event name.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent

from syncline.api.routes_events import progress_events
from syncline.errors import UsageError
from syncline.service import RunMode, Trigger, TriggerResult, TriggerStatus
from syncline.web.common import check_link, context, render, see_other
from syncline.web.session import (
    COOKIE,
    LIFETIME_S,
    LOGIN_COOKIE,
    SessionKeys,
    WebSession,
    admin,
    current_session,
    is_https,
    operator,
    viewer,
)
from syncline.web.throttle import SignInThrottle
from syncline.web.views import link_card, link_cards

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

Viewer = Annotated[WebSession, Depends(viewer)]
Operator = Annotated[WebSession, Depends(operator)]
Admin = Annotated[WebSession, Depends(admin)]


def _safe_next(target: str | None) -> str:
    """Only a path on this site (never ``//host`` or a full URL) may follow sign-in."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


def _login_page(request: Request, next_url: str, *, error: str | None = None, name: str = "",
                status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    """The sign-in form with a sign-in form token (and its cookie; see ``session``)."""
    keys: SessionKeys = request.app.state.syncline_web_keys
    nonce = keys.login_nonce(request)
    response = render(request, "login.html", current_session(request),
                      status_code=status_code, headers=headers, next=_safe_next(next_url),
                      error=error, name=name, csrf=keys.login_token(nonce))
    response.set_cookie(LOGIN_COOKIE, nonce, max_age=LIFETIME_S, httponly=True,
                        samesite="strict", path="/login", secure=is_https(request))
    return response


def _address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> Response:
    return _login_page(request, next)


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, name: Annotated[str, Form(max_length=200)],
          password: Annotated[str, Form(max_length=1000)],
          next: Annotated[str, Form(max_length=2000)] = "/",
          csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    """Sign in: the form token first, then the throttle (see ``throttle``), then the
    password."""
    keys: SessionKeys = request.app.state.syncline_web_keys
    if not keys.login_token_ok(request, csrf):
        return _login_page(request, next, status_code=status.HTTP_403_FORBIDDEN, name=name,
                           error="The sign-in form expired or came from another site: "
                                 "sign in again.")
    throttle: SignInThrottle = request.app.state.syncline_web_throttle
    address = _address(request)
    verdict = throttle.check(name, address)
    if not verdict.allowed:
        return _login_page(request, next, status_code=status.HTTP_429_TOO_MANY_REQUESTS,
                           name=name, headers={"Retry-After": str(verdict.retry_after_s)},
                           error=f"Too many failed sign-ins: try again in "
                                 f"{verdict.retry_after_s} s.")
    user = context(request).users.check_password(name.strip(), password)
    if user is None:
        throttle.failed(name, address)
        return _login_page(request, next, status_code=status.HTTP_401_UNAUTHORIZED,
                           name=name, error="The name or the password is wrong.")
    throttle.succeeded(name)
    response = see_other(_safe_next(next))
    response.set_cookie(COOKIE, keys.issue(user.name), max_age=LIFETIME_S, httponly=True,
                        samesite="strict", path="/", secure=is_https(request))
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(_session: Viewer) -> RedirectResponse:
    response = see_other("/login", "You are signed out.")
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, session: Viewer) -> Response:
    return render(request, "dashboard.html", session, cards=link_cards(context(request)))


@router.get("/links/{link}/card", response_class=HTMLResponse)
def card(request: Request, link: str, session: Viewer) -> Response:
    check_link(request, link)
    return render(request, "_card_status.html", session,
                  card=link_card(context(request), link))


def _said(result: TriggerResult, what: str) -> tuple[str, str]:
    """The notice for a trigger's result: (text, kind)."""
    texts = {
        TriggerStatus.STARTED: f"{what} of {result.link} started.",
        TriggerStatus.QUEUED: f"{what} of {result.link} queued: it starts when the run "
                              f"going on ends.",
        TriggerStatus.COALESCED: f"{what} of {result.link} joined the run already waiting.",
        TriggerStatus.PAUSED: f"{result.link} is paused: nothing started. Resume it first.",
    }
    return texts[result.status], "error" if result.status is TriggerStatus.PAUSED else "ok"


@router.post("/links/{link}/sync")
def sync_now(request: Request, link: str, session: Operator,
             stream: Annotated[str, Form()] = "") -> RedirectResponse:
    settings = check_link(request, link)
    streams = [stream] if stream else []
    if stream:
        try:
            settings.check_streams(link, [stream])
        except UsageError as error:
            return see_other("/", str(error), "error")
    result = context(request).service.trigger(
        link, RunMode.INCREMENTAL, streams, requested_by=session.user.name,
        trigger=Trigger.API)
    text, kind = _said(result, f"Sync of {stream}" if stream else "Sync")
    return see_other(f"/#link-{link}", text, kind)


@router.post("/links/{link}/force-sync")
def force_sync(request: Request, link: str, session: Admin) -> RedirectResponse:
    check_link(request, link)
    result = context(request).service.force_sync(link, requested_by=session.user.name)
    text, kind = _said(result, "Force Sync")
    return see_other(f"/#link-{link}", text, kind)


@router.post("/sync-all")
def sync_all(request: Request, session: Admin) -> RedirectResponse:
    ctx = context(request)
    selection = ctx.controls.sync_all_selection(ctx.config.links)
    for name in selection.taking_part:
        ctx.service.trigger(name, requested_by=session.user.name, trigger=Trigger.API)
    text = f"Sync All started {', '.join(selection.taking_part) or 'nothing'}."
    if selection.left_out:
        text += f" Left out: {selection.left_out_text()}."
    return see_other("/", text, "ok" if selection.taking_part else "error")


def _pause(request: Request, link: str, session: WebSession, stream: str,
           paused: bool) -> RedirectResponse:
    settings = check_link(request, link)
    if stream:
        try:
            settings.check_streams(link, [stream])
        except UsageError as error:
            return see_other("/", str(error), "error")
    context(request).controls.set_paused(link, paused, stream=stream or None,
                                         user=session.user.name)
    what = f"{link} {stream}".strip() if stream else link
    return see_other(f"/#link-{link}", f"{what} {'paused' if paused else 'resumed'}.")


@router.post("/links/{link}/pause")
def pause(request: Request, link: str, session: Operator,
          stream: Annotated[str, Form()] = "") -> RedirectResponse:
    return _pause(request, link, session, stream, True)


@router.post("/links/{link}/resume")
def resume(request: Request, link: str, session: Operator,
           stream: Annotated[str, Form()] = "") -> RedirectResponse:
    return _pause(request, link, session, stream, False)


@router.get("/events", response_class=EventSourceResponse)
async def events(request: Request, _session: Viewer) -> AsyncIterator[ServerSentEvent]:
    async for event in progress_events(context(request), request, None):
        yield event

