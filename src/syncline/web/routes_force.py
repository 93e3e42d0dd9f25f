"""The forced-synchronisation screen (``admin``): choose records to send again (action code
R) by streams, key range, record date, due date and owner, optionally with their related
records, from the authoritative side; count them; then mark them and run at once or with
the next sync.

* ``GET /force`` — the first link's screen; ``GET /links/{link}/force``;
* ``POST /links/{link}/force/count`` — how many records the criteria select, per stream (read
  from the authoritative side, nothing stored); answers the count panel alone to htmx;
* ``POST /links/{link}/force`` — mark them (:meth:`SyncService.force`), with ``when=now`` also
  run at once.

Dates are days (``YYYY-MM-DD``): a "from" day counts from its start, a "to" day up to its
end, in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from syncline.config import LinkConfig
from syncline.errors import SynclineError, UsageError
from syncline.model import Side
from syncline.plan_types import LinkDirection
from syncline.service import RunMode, Trigger, TriggerStatus
from syncline.service.criteria import ForceCriteria
from syncline.service.endpoints import preview_selection
from syncline.service.force import Selection, authoritative_side
from syncline.service.force_mail import ForceLogMailer, parse_recipients
from syncline.web.common import check_link, context, render, see_other
from syncline.web.session import WebSession, admin

__all__ = ["criteria_from_form", "router"]

router = APIRouter(include_in_schema=False)

Admin = Annotated[WebSession, Depends(admin)]


@dataclass(frozen=True)
class ForceForm:
    """The screen's fields as the user left them (to show them again)."""

    streams: tuple[str, ...] = ()
    from_key: str = ""
    to_key: str = ""
    since: str = ""
    until: str = ""
    due_from: str = ""
    due_to: str = ""
    owner: str = ""
    mine: bool = False
    with_related: bool = False
    source: str = ""
    when: str = "now"
    email: str = ""


def _day(text: str, label: str, end: bool) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{label}: '{text}' is not a date (YYYY-MM-DD)") from None
    return datetime.combine(day, time.max if end else time.min, tzinfo=UTC)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def read_form(form: FormData) -> ForceForm:
    """The screen's fields from a posted form."""
    return ForceForm(
        streams=tuple(str(item) for item in form.getlist("streams")),
        from_key=_text(form, "from_key"), to_key=_text(form, "to_key"),
        since=_text(form, "since"), until=_text(form, "until"),
        due_from=_text(form, "due_from"), due_to=_text(form, "due_to"),
        owner=_text(form, "owner"), mine=bool(form.get("mine")),
        with_related=bool(form.get("with_related")),
        source=_text(form, "source"), when=_text(form, "when") or "now",
        email=_text(form, "email"))


def criteria_from_form(link: str, settings: LinkConfig, fields: ForceForm,
                       user: str | None = None) -> ForceCriteria:
    """The criteria the fields describe for link ``link`` (its ``settings``); "only mine"
    selects records owned by ``user``.

    Raises:
        UsageError: a stream the link does not sync, a date that is not one, a range whose
            start is after its end, a side the link cannot write from, or both an owner
            and "only mine".
    """
    settings.check_streams(link, fields.streams)
    windows = {
        "record date": (_day(fields.since, "record date from", False),
                        _day(fields.until, "record date to", True)),
        "due date": (_day(fields.due_from, "due date from", False),
                     _day(fields.due_to, "due date to", True)),
    }
    for label, (start, end) in windows.items():
        if start is not None and end is not None and start > end:
            raise UsageError(f"{label}: the start is after the end")
    if fields.from_key and fields.to_key and fields.from_key > fields.to_key:
        raise UsageError("key range: 'from' is after 'to'")
    if fields.mine and fields.owner and fields.owner != user:
        raise UsageError("choose an owner or 'only my records', not both")
    owner = (user or None) if fields.mine else (fields.owner or None)
    source = Side(fields.source) if fields.source in ("a", "b") else None
    authoritative_side(settings, source)
    return ForceCriteria(
        streams=fields.streams, from_key=fields.from_key or None, to_key=fields.to_key or None,
        since=windows["record date"][0], until=windows["record date"][1],
        due_from=windows["due date"][0], due_to=windows["due date"][1],
        owner=owner, with_related=fields.with_related, source=source)


def _mailer(request: Request) -> ForceLogMailer:
    found = context(request).force_mailer
    assert found is not None  # set by build_context or mount_web
    return found


def _screen(request: Request, session: WebSession, link: str, settings: LinkConfig,
            fields: ForceForm, *, selection: Selection | None = None,
            error: str | None = None, code: int = 200) -> Response:
    side = authoritative_side(settings, None)
    return render(request, "force.html", session, status_code=code, link=link,
                  settings=settings, fields=fields, selection=selection, error=error,
                  default_side=side.value, mail=_mailer(request).enabled,
                  one_way=settings.direction is not LinkDirection.BOTH)


@router.get("/force")
def first_force(request: Request, _session: Admin) -> RedirectResponse:
    links = list(context(request).config.links)
    if not links:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no links are configured")
    return RedirectResponse(f"/links/{links[0]}/force", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/links/{link}/force", response_class=HTMLResponse)
def force_screen(request: Request, link: str, session: Admin) -> Response:
    settings = check_link(request, link)
    return _screen(request, session, link, settings, ForceForm())


def count_selected(request: Request, link: str, criteria: ForceCriteria) -> Selection:
    """Read the authoritative side and select (nothing is stored).

    Raises:
        UsageError: see :func:`select_records`; RunError: the endpoint cannot be read.
    """
    ctx = context(request)
    return preview_selection(ctx.config, link, criteria, ctx.service.factory)


@router.post("/links/{link}/force/count", response_class=HTMLResponse)
async def count(request: Request, link: str, session: Admin) -> Response:
    settings = check_link(request, link)
    fields = read_form(await request.form())
    selection: Selection | None = None
    error: str | None = None
    try:
        criteria = criteria_from_form(link, settings, fields, session.user.name)
        selection = await run_in_threadpool(count_selected, request, link, criteria)
    except SynclineError as caught:
        error = str(caught)
    if request.headers.get("hx-request"):
        return render(request, "_force_count.html", session, selection=selection,
                      error=error)
    return _screen(request, session, link, settings, fields, selection=selection,
                   error=error)


@router.post("/links/{link}/force")
async def run_force(request: Request, link: str, session: Admin) -> Response:
    settings = check_link(request, link)
    fields = read_form(await request.form())
    ctx = context(request)
    now = fields.when == "now"
    mailer = _mailer(request)
    try:
        criteria = criteria_from_form(link, settings, fields, session.user.name)
        recipients = parse_recipients(fields.email) if fields.email else []
        if recipients and not mailer.enabled:
            raise UsageError("the log cannot be e-mailed: no mail server is configured "
                             "([notify.smtp])")
        log_path = mailer.log_path(link) if recipients else None
        result = await run_in_threadpool(ctx.service.force, link, criteria,
                                         requested_by=session.user.name, now=False,
                                         log_path=log_path)
    except SynclineError as error:
        return _screen(request, session, link, settings, fields, error=str(error), code=422)
    if log_path is not None:
        mailer.expect(result.request_id, link, recipients, log_path)
    paused = False
    if now:
        paused = ctx.service.trigger(link, RunMode.FORCED, requested_by=session.user.name,
                                     trigger=Trigger.FORCE).status is TriggerStatus.PAUSED
    streams = ", ".join(f"{stream} {len(found)}" for stream, found in
                        result.selection.records.items() if found) or "none"
    related = f" (of which {result.selection.related} related)" \
        if result.selection.related else ""
    text = (f"Marked {result.selection.total} records of {link} from {result.endpoint}"
            f"{related}: {streams}. ")
    if paused:
        text += f"{link} is paused: they go when it is resumed."
    else:
        text += "The forced sync runs now." if now else "They go with the next sync."
    if recipients:
        text += f" Its detailed log goes to {', '.join(recipients)}."
    target = f"/links/{link}/journal?action=R" if now else "/"
    return see_other(target, text)
