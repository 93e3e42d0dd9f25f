"""The REST API of ``syncline serve`` (FastAPI).

Public entry points: :func:`create_app` (the application over an :class:`ApiContext`) and
:func:`build_context` (the sync service with its progress hub and scheduler host). Routes
are split by concern: ``routes_links`` (status, syncs, pause, Sync All, endpoints),
``routes_runs`` (runs, journal), ``routes_review`` (errors, warnings, retry, conflicts,
xref), ``routes_events`` (progress as server-sent events), ``routes_users`` (users,
tokens); ``auth`` checks tokens and roles; ``masking`` keeps secrets out of answers.

Every operation needs ``Authorization: Bearer <token>`` (401 without a valid one, 403 when
the user's role may not); only the OpenAPI document (``/api/openapi.json``) and its
interactive view (``/api/docs``) are public: they describe the API, they hold no data.
"""

from __future__ import annotations

from syncline.api.app import build_context, create_app
from syncline.api.context import ApiContext
from syncline.api.progress import ProgressHub

__all__ = ["ApiContext", "ProgressHub", "build_context", "create_app"]
