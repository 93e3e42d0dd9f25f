"""The FastAPI application: routes under ``/api``, the OpenAPI document at
``/api/openapi.json`` (interactive docs at ``/api/docs``), errors as problem details
(``application/problem+json``, see :mod:`syncline.api.problems`).

:func:`build_context` makes the sync service with its progress hub; :func:`create_app`
makes the application around it. When the context has a
:class:`~syncline.service.host.ServiceHost`, the application's lifespan starts it (the
scheduler thread) and, at shutdown, stops it and waits for the runs going on.

While the state store cannot be reached (:class:`~syncline.errors.StateUnavailable`), every
route answers 503 with ``Retry-After``: a problem-details body (:mod:`syncline.api.problems`)
under ``/api``, a plain page (no template, no session: both need the store) elsewhere.

Every response passes through :class:`ScrubbedJSONResponse`, which removes the secrets of
the configuration (see :func:`syncline.api.masking.config_secrets`) from the body, should
an error message ever quote one.

The web console (issue 6) plugs in here: when the package ``syncline.web`` can be
imported, :func:`create_app` calls ``syncline.web.mount_web(app, context)`` after the API's
routes are in place. The console uses the same :class:`~syncline.api.context.ApiContext`
and the same authentication (:mod:`syncline.api.auth`).
"""

from __future__ import annotations

import asyncio
import html
import importlib.util
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, ClassVar

from fastapi import FastAPI, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, Response

from syncline import __version__
from syncline.api import (
    routes_events,
    routes_links,
    routes_review,
    routes_runs,
    routes_schedules,
    routes_users,
)
from syncline.api.context import ApiContext
from syncline.api.masking import config_secrets, scrub
from syncline.api.problems import (
    ProblemResponse,
    document_problems,
    install_problem_handlers,
    problem_response,
)
from syncline.api.progress import ProgressHub
from syncline.api.security_headers import SecurityHeaders
from syncline.config import Config
from syncline.errors import (
    ConfigError,
    LinkBusy,
    RunError,
    StateError,
    StateUnavailable,
    SynclineError,
    UsageError,
)
from syncline.notify import Notifier
from syncline.redaction import redact_store
from syncline.service.clock import Clock
from syncline.service.endpoints import ConnectorFactory
from syncline.service.force_mail import ForceLogMailer
from syncline.service.host import ServiceHost
from syncline.service.service import SyncService
from syncline.service.stores import StateStore, users_of

__all__ = ["ScrubbedJSONResponse", "build_context", "create_app"]

log = logging.getLogger("syncline.api")

OPENAPI_URL = "/api/openapi.json"


class ScrubbedJSONResponse(JSONResponse):
    """A JSON response with every known secret replaced by ``***``."""

    secrets: ClassVar[set[str]] = set()

    def render(self, content: Any) -> bytes:
        body = super().render(content)
        if not self.secrets:
            return body
        text = body.decode("utf-8")
        cleaned = scrub(text, self.secrets)
        return body if cleaned == text else cleaned.encode("utf-8")


def build_context(config: Config, store: StateStore, *, workers: int = 4,
                  max_wait: float = 30.0, with_host: bool = True,
                  factory: ConnectorFactory | None = None, clock: Clock | None = None,
                  notify: bool = True) -> ApiContext:
    """The service (publishing progress to a new hub, notifying per the links' ``notify``
    settings unless ``notify`` is false) and, with ``with_host``, the host that runs its
    scheduler from the application's lifespan. ``factory`` and ``clock`` replace how
    connectors are made and what time it is (tests).

    The store is set to scrub the configuration's secrets from what it writes (see
    :func:`syncline.redaction.redact_store`)."""
    secrets = config_secrets(config)
    redact_store(store, secrets)
    hub = ProgressHub()
    service = SyncService(config, store, max_workers=workers, progress=hub.reporter,
                          factory=factory, clock=clock)
    service.add_listener(hub.run_finished)
    notifier = Notifier(config, store) if notify else None
    if notifier is not None:
        service.add_listener(notifier)
    _check_sync_users(config, store)
    host = ServiceHost(service, max_wait=max_wait) if with_host else None
    force_mailer = ForceLogMailer(config, store)
    service.add_listener(force_mailer.run_finished)
    return ApiContext(config=config, store=store, service=service, hub=hub, host=host,
                      secrets=secrets, notifier=notifier, force_mailer=force_mailer)


def _check_sync_users(config: Config, store: StateStore) -> None:
    """Warn about a link whose ``sync_user`` is not a user (runs still go, recorded as
    that name)."""
    wanted = {link.sync_user for link in config.links.values() if link.sync_user}
    if not wanted:
        return
    known = {user.name for user in users_of(store).users()}
    for name, link in config.links.items():
        if link.sync_user and link.sync_user not in known:
            log.warning("%s: sync_user '%s' is not a user (add it with 'syncline user add "
                        "%s --role operator')", name, link.sync_user, link.sync_user)


def _error(code: int, error: Exception) -> JSONResponse:
    return problem_response(code, str(error))


OUTAGE_RETRY_AFTER = 5
"""Seconds a client is told to wait (``Retry-After``) while the state store is down."""

_OUTAGE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>syncline: state store unreachable</title>
</head><body><h1>The state store is unreachable</h1><p>{detail}</p>
<p>syncline keeps trying to reconnect; reload this page in a few seconds.</p></body></html>
"""


def _outage_answer(request: Request, error: StateUnavailable) -> Response:
    """503 while the state store is down: problem details on the API (``/api/...``), a
    plain page (no template, no session: both need the store) on the console."""
    headers = {"Retry-After": str(OUTAGE_RETRY_AFTER)}
    if request.url.path.startswith("/api"):
        return problem_response(status.HTTP_503_SERVICE_UNAVAILABLE, str(error),
                                headers=headers)
    page = _OUTAGE_PAGE.format(detail=html.escape(scrub(str(error),
                                                        ScrubbedJSONResponse.secrets)))
    return HTMLResponse(page, status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
                        headers=headers)


def _mount_web(app: FastAPI, context: ApiContext) -> None:
    """Let the web console add itself (see the module docstring), when it is installed."""
    if importlib.util.find_spec("syncline.web") is None:
        return
    web = importlib.import_module("syncline.web")
    mount = getattr(web, "mount_web", None)
    if callable(mount):
        mount(app, context)
    else:
        log.warning("syncline.web has no mount_web(app, context); the web console is off")


def create_app(context: ApiContext) -> FastAPI:
    """The API application over ``context`` (see the module docstring)."""
    ScrubbedJSONResponse.secrets.update(context.secrets)
    ProblemResponse.secrets.update(context.secrets)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        context.hub.follow(context.store)  # runs other processes make on the same store
        if context.host is not None:
            context.host.start()
        try:
            yield
        finally:
            context.hub.close()
            if context.host is not None:
                context.host.stop()
                await asyncio.to_thread(context.host.join)
            if context.notifier is not None:
                await asyncio.to_thread(context.notifier.close)

    app = FastAPI(
        title="syncline",
        version=__version__,
        description="Two-way record sync service: links, runs, journal, review, users. "
                    "Every call needs `Authorization: Bearer <token>` "
                    "(`syncline user token NAME`).",
        openapi_url=OPENAPI_URL,
        docs_url="/api/docs",
        redoc_url=None,
        default_response_class=ScrubbedJSONResponse,
        lifespan=lifespan,
    )
    app.state.syncline = context
    for module in (routes_links, routes_schedules, routes_runs, routes_review, routes_events,
                   routes_users):
        app.include_router(module.router)
    document_problems(app)
    install_problem_handlers(app)  # before the console's, which answers pages and defers
    app.add_middleware(SecurityHeaders)
    _mount_web(app, context)

    @app.exception_handler(LinkBusy)
    async def busy(_request: Request, error: LinkBusy) -> JSONResponse:
        return _error(status.HTTP_409_CONFLICT, error)

    @app.exception_handler(UsageError)
    async def usage(_request: Request, error: UsageError) -> JSONResponse:
        return _error(status.HTTP_422_UNPROCESSABLE_CONTENT, error)

    @app.exception_handler(ConfigError)
    async def config_error(_request: Request, error: ConfigError) -> JSONResponse:
        return _error(status.HTTP_422_UNPROCESSABLE_CONTENT, error)

    @app.exception_handler(RunError)
    async def run_error(_request: Request, error: RunError) -> JSONResponse:
        return _error(status.HTTP_502_BAD_GATEWAY, error)

    @app.exception_handler(StateUnavailable)
    async def state_unavailable(request: Request, error: StateUnavailable) -> Response:
        return _outage_answer(request, error)

    @app.exception_handler(StateError)
    async def state_error(_request: Request, error: StateError) -> JSONResponse:
        return _error(status.HTTP_503_SERVICE_UNAVAILABLE, error)

    @app.exception_handler(SynclineError)
    async def other(_request: Request, error: SynclineError) -> JSONResponse:
        return _error(status.HTTP_500_INTERNAL_SERVER_ERROR, error)

    return app
