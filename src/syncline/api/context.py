"""What every route of the API (and of the web console) shares: the configuration, the
state store, the sync service and its progress hub, the users, the link controls, the
notifier, and the secrets to keep out of responses.

This is a stable interface for the web console (``syncline.web.mount_web(app, context)``):
fields are only ever added. A route gets the context with the dependency
:func:`context_of` (``Annotated[ApiContext, Depends(context_of)]``, exported as
:data:`syncline.api.auth.Context`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from syncline.api.progress import ProgressHub
from syncline.config import Config
from syncline.notify.notifier import Notifier
from syncline.service.force_mail import ForceLogMailer
from syncline.service.host import ServiceHost
from syncline.service.service import SyncService
from syncline.service.stores import (
    ControlsStore,
    StateStore,
    UsersStore,
    controls_of,
    users_of,
)

__all__ = ["ApiContext", "context_of"]


@dataclass
class ApiContext:
    """The objects the routes work with (one per application).

    Fields:

    ``config``
        The checked configuration (links, endpoints).
    ``store``
        The state store (runs, journal, pending items, conflicts, users, controls).
    ``service``
        The :class:`~syncline.service.service.SyncService`: ``trigger``, ``force_sync``,
        ``force``, ``status``.
    ``hub``
        The :class:`~syncline.api.progress.ProgressHub`: ``snapshot(link)`` and
        ``subscribe(link)`` for the progress of running syncs.
    ``host``
        When given, started and stopped by the application's lifespan (what
        ``syncline serve`` does); without it the caller runs the service itself.
    ``secrets``
        The configuration's secrets: scrub them (:func:`syncline.api.masking.scrub`) from
        any text shown that did not come through an API response.
    ``notifier``
        The :class:`~syncline.notify.Notifier` (``None``: notifications are off).
    ``force_mailer``
        The :class:`~syncline.service.force_mail.ForceLogMailer` that e-mails the logs of
        forced synchronisations once their run wrote them (``None``: made by
        :func:`~syncline.api.app.build_context`, which registers it with the service).

    ``users`` and ``controls`` give the users store and the link controls (pause, Sync All).
    """

    config: Config
    store: StateStore
    service: SyncService
    hub: ProgressHub
    host: ServiceHost | None = None
    secrets: list[str] = field(default_factory=list)
    notifier: Notifier | None = None
    force_mailer: ForceLogMailer | None = None

    @property
    def users(self) -> UsersStore:
        return users_of(self.store)

    @property
    def controls(self) -> ControlsStore:
        return controls_of(self.store)


def context_of(request: Request) -> ApiContext:
    """The application's :class:`ApiContext` (a FastAPI dependency)."""
    found = request.app.state.syncline
    assert isinstance(found, ApiContext)
    return found
