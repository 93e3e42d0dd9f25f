"""What the console's route modules share: the templates, rendering a page for the signed-in
user, one-time notices ("flash" messages) and redirects after a form.

A **notice** is a short message shown once on the next page (after a form posts and the
browser is redirected): kept in the ``syncline_notice`` cookie as ``kind|text``; ``kind`` is
``ok`` or ``error``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from fastapi import HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from syncline.api.context import ApiContext
from syncline.config import LinkConfig
from syncline.redaction import scrub
from syncline.web.session import WebSession
from syncline.web.views import ACTION_NAMES, OUTCOMES, ROW_OUTCOMES, aware, exact, relative

__all__ = ["NOTICE", "TEMPLATES", "check_link", "context", "notice", "render", "see_other",
           "time_tag"]

HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))
NOTICE = "syncline_notice"


def time_tag(value: Any) -> Markup:
    """``<time>`` showing a time relative to now, with the exact time beside it."""
    moment = aware(value)
    if moment is None:
        return Markup('<span class="muted">never</span>')
    return Markup('<time datetime="{iso}" title="{exact}">{rel}</time> '
                  '<span class="exact">({exact})</span>').format(
        iso=moment.isoformat(), exact=exact(moment), rel=relative(moment))


def _outcome(value: str | None, table: dict[str, tuple[str, str]] = OUTCOMES) -> Markup:
    key = value if value in table else "never"
    symbol, word = table.get(key, OUTCOMES["never"])
    return Markup('<span class="outcome outcome-{key}"><span aria-hidden="true">{symbol}'
                  '</span> {word}</span>').format(key=key, symbol=symbol, word=word)


TEMPLATES.env.filters["when"] = time_tag
TEMPLATES.env.filters["outcome"] = _outcome
TEMPLATES.env.filters["row_outcome"] = lambda value: _outcome(value, ROW_OUTCOMES)
TEMPLATES.env.filters["exact"] = lambda value: exact(aware(value))
TEMPLATES.env.filters["relative"] = lambda value: relative(aware(value))
TEMPLATES.env.globals["ACTION_NAMES"] = ACTION_NAMES


def context(request: Request) -> ApiContext:
    """The application's :class:`ApiContext`."""
    found = request.app.state.syncline
    assert isinstance(found, ApiContext)
    return found


def check_link(request: Request, link: str) -> LinkConfig:
    """The link called ``link``.

    Raises:
        HTTPException: 404 naming the links there are.
    """
    found = context(request).config.links.get(link)
    if found is None:
        known = ", ".join(sorted(context(request).config.links)) or "none"
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no link '{link}'; links: {known}")
    return found


def render(request: Request, template: str, session: WebSession | None,
           status_code: int = 200, headers: Mapping[str, str] | None = None,
           **values: Any) -> HTMLResponse:
    """Render ``template`` with the user, the links, the notice and ``values``."""
    raw = request.cookies.get(NOTICE)
    shown = None
    if raw and "|" in unquote(raw):
        kind, text = unquote(raw).split("|", 1)
        shown = {"kind": kind if kind in ("ok", "error") else "ok", "text": text}
    response = TEMPLATES.TemplateResponse(request, template, {
        "session": session, "links": list(context(request).config.links),
        "notice": shown, "path": request.url.path, "status_code": status_code, **values},
        status_code=status_code, headers=headers)
    secrets = context(request).secrets
    if secrets:  # an error message shown on a page must never give a secret away
        text = bytes(response.body).decode("utf-8")
        cleaned = scrub(text, secrets)
        if cleaned != text:
            response.body = cleaned.encode("utf-8")
            response.headers["content-length"] = str(len(response.body))
    if raw:
        response.delete_cookie(NOTICE, path="/")
    return response


def notice(response: RedirectResponse | HTMLResponse, text: str, kind: str = "ok") -> None:
    """Show ``text`` once on the next page."""
    response.set_cookie(NOTICE, quote(f"{kind}|{text[:600]}"), httponly=True,
                        samesite="strict", path="/")


def see_other(url: str, text: str | None = None, kind: str = "ok") -> RedirectResponse:
    """A redirect after a form (303), with an optional notice."""
    response = RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)
    if text:
        notice(response, text, kind)
    return response
