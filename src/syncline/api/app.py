"""The FastAPI application: routes under ``/api``, the OpenAPI document at
``/api/openapi.json`` (interactive docs at ``/api/docs``), errors as ``{"detail": ...}``.

:func:`build_context` makes the sync service with its progress hub; :func:`create_app`
makes the application around it. When the context has a
:class:`~syncline.service.host.ServiceHost`, the application's lifespan starts it (the
scheduler thread) and, at shutdown, stops it and waits for the runs going on.

Every response passes through :class:`ScrubbedJSONResponse`, which removes the secrets of
the configuration (see :func:`syncline.api.masking.config_secrets`) from the body, should
an error message ever quote one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, ClassVar

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse

from syncline import __version__
from syncline.api import routes_events, routes_links, routes_review, routes_runs, routes_users
from syncline.api.context import ApiContext
from syncline.api.masking import config_secrets, scrub
from syncline.api.progress import ProgressHub
from syncline.config import Config
from syncline.errors import ConfigError, LinkBusy, RunError, StateError, SynclineError, UsageError
from syncline.service.host import ServiceHost
from syncline.service.service import SyncService
from syncline.state.store import StateStore

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
                  max_wait: float = 30.0, with_host: bool = True) -> ApiContext:
    """The service (publishing progress to a new hub) and, with ``with_host``, the host
    that runs its scheduler from the application's lifespan."""
    hub = ProgressHub()
    service = SyncService(config, store, max_workers=workers, progress=hub.reporter)
    service.add_listener(hub.run_finished)
    host = ServiceHost(service, max_wait=max_wait) if with_host else None
    return ApiContext(config=config, store=store, service=service, hub=hub, host=host,
                      secrets=config_secrets(config))


def _error(code: int, error: Exception) -> JSONResponse:
    return ScrubbedJSONResponse({"detail": str(error)}, status_code=code)


def create_app(context: ApiContext) -> FastAPI:
    """The API application over ``context`` (see the module docstring)."""
    ScrubbedJSONResponse.secrets.update(context.secrets)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if context.host is not None:
            context.host.start()
        try:
            yield
        finally:
            context.hub.close()
            if context.host is not None:
                context.host.stop()
                await asyncio.to_thread(context.host.join)

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
    for module in (routes_links, routes_runs, routes_review, routes_events, routes_users):
        app.include_router(module.router)

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

    @app.exception_handler(StateError)
    async def state_error(_request: Request, error: StateError) -> JSONResponse:
        return _error(status.HTTP_503_SERVICE_UNAVAILABLE, error)

    @app.exception_handler(SynclineError)
    async def other(_request: Request, error: SynclineError) -> JSONResponse:
        return _error(status.HTTP_500_INTERNAL_SERVER_ERROR, error)

    return app
