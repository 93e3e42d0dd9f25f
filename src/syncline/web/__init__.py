"""The web console of ``syncline serve``, at ``/``: server-rendered pages (Jinja2) with htmx
and server-sent events for the live parts.

:func:`mount_web` adds the console to the REST API's application (``create_app`` calls it):
its pages, its static files under ``/static`` and the sign-in redirect. Pages by concern:
``routes_dashboard`` (sign-in, dashboard, Sync now / Force sync / Sync all, pause, live
progress), ``routes_runs`` (run history, journal), ``routes_review`` (errors by cause with
their fix and Retry, warnings, conflicts), ``routes_force`` (forced synchronisation),
``routes_connections`` (endpoints, capability matrix, test connection, schedules);
``session`` signs users in with the users and roles of the service.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from syncline.api.context import ApiContext
from syncline.api.problems import http_problem
from syncline.service.force_mail import ForceLogMailer
from syncline.web import (
    routes_connections,
    routes_dashboard,
    routes_force,
    routes_review,
    routes_runs,
)
from syncline.web.common import HERE, render
from syncline.web.session import LoginRequired, SessionKeys, current_session
from syncline.web.throttle import SignInThrottle

__all__ = ["mount_web"]


def mount_web(app: FastAPI, context: ApiContext, *, key: bytes | None = None,
              throttle: SignInThrottle | None = None) -> None:
    """Add the console to ``app`` (an application made by ``create_app(context)``); calling
    it again does nothing. ``key`` signs session cookies (default: a random key, so
    sessions end when the process does); ``throttle`` limits failed sign-ins (default: 5
    free failures in 15 minutes, see :mod:`syncline.web.throttle`; kept in
    ``app.state.syncline_web_throttle``)."""
    if getattr(app.state, "syncline_web_keys", None) is not None:
        return
    app.state.syncline = context
    app.state.syncline_web_keys = SessionKeys(key)
    app.state.syncline_web_throttle = throttle or SignInThrottle()
    if context.force_mailer is None:  # a context not made by build_context
        context.force_mailer = ForceLogMailer(context.config, context.store)
        context.service.add_listener(context.force_mailer.run_finished)
    for module in (routes_dashboard, routes_runs, routes_review, routes_force,
                   routes_connections):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="web-static")

    @app.exception_handler(LoginRequired)
    async def login_required(_request: Request, error: LoginRequired) -> Response:
        return RedirectResponse(f"/login?next={quote(error.next_url, safe='/')}",
                                status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def page_error(request: Request, error: StarletteHTTPException) -> Response:
        """A page for people (a browser asking for HTML outside ``/api``); the API's usual
        problem answer (:mod:`syncline.api.problems`) for everyone else."""
        wants_page = "text/html" in request.headers.get("accept", "")
        if request.url.path.startswith("/api") or not wants_page:
            return http_problem(error)
        return render(request, "error.html", current_session(request),
                      status_code=error.status_code, detail=error.detail,
                      headers=getattr(error, "headers", None))
