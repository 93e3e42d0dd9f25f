"""What every route of the API shares: the configuration, the state store, the sync
service and its progress hub, the users, and the secrets to keep out of responses."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from syncline.api.progress import ProgressHub
from syncline.config import Config
from syncline.service.host import ServiceHost
from syncline.service.service import SyncService
from syncline.state.controls_store import ControlsStore
from syncline.state.store import StateStore
from syncline.state.users_store import UsersStore

__all__ = ["ApiContext", "context_of"]


@dataclass
class ApiContext:
    """The objects the routes work with (one per application).

    ``host``, when given, is started and stopped by the application's lifespan (what
    ``syncline serve`` does); without it the caller runs the service itself.
    """

    config: Config
    store: StateStore
    service: SyncService
    hub: ProgressHub
    host: ServiceHost | None = None
    secrets: list[str] = field(default_factory=list)

    @property
    def users(self) -> UsersStore:
        return UsersStore(self.store)

    @property
    def controls(self) -> ControlsStore:
        return ControlsStore(self.store)


def context_of(request: Request) -> ApiContext:
    """The application's :class:`ApiContext` (a FastAPI dependency)."""
    found = request.app.state.syncline
    assert isinstance(found, ApiContext)
    return found
