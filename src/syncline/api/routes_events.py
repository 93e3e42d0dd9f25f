"""Progress of running syncs as server-sent events (``viewer``).

``GET /api/links/{link}/events`` (one link) and ``GET /api/events`` (all links) answer
``text/event-stream``: first a ``snapshot`` event (the progress of the run going on, or
``null``), then the events of :mod:`syncline.api.progress` as they happen — each with its
kind as the SSE ``event`` and the JSON event as ``data`` — and a comment every
:data:`KEEPALIVE` seconds so proxies keep the connection open. The stream ends when the
client goes or the server stops.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent

from syncline.api.auth import Context, Viewer
from syncline.api.context import ApiContext
from syncline.api.masking import scrub
from syncline.api.progress import CLOSED
from syncline.api.routes_links import check_link

__all__ = ["KEEPALIVE", "progress_events", "router"]

router = APIRouter(prefix="/api", tags=["progress"])

KEEPALIVE = 15.0


def _known_link(link: str, context: Context) -> str:
    """The path's link, checked before the stream starts (404 when unknown)."""
    check_link(context, link)
    return link


def _clean(context: ApiContext, event: dict[str, Any]) -> dict[str, Any]:
    return {key: scrub(value, context.secrets) if isinstance(value, str) else value
            for key, value in event.items()}


async def progress_events(context: ApiContext, request: Request,
                          link: str | None) -> AsyncIterator[ServerSentEvent]:
    """The progress events of ``link``'s runs (every link's with ``None``): a snapshot
    first, then each event as the progress hub publishes it (secrets scrubbed), with a
    keep-alive comment every :data:`KEEPALIVE` seconds, until the client goes or the hub
    closes. Shared by the API and the web console."""
    subscription = context.hub.subscribe(link)
    try:
        names = [link] if link is not None else list(context.config.links)
        yield ServerSentEvent(event="snapshot", data={
            name: context.hub.snapshot(name) for name in names})
        while True:
            try:
                event = await asyncio.wait_for(subscription.queue.get(), KEEPALIVE)
            except TimeoutError:
                if await request.is_disconnected():
                    return
                yield ServerSentEvent(comment="keep-alive")
                continue
            if event is CLOSED:
                return
            yield ServerSentEvent(event=str(event["event"]), data=_clean(context, event))
    finally:
        context.hub.unsubscribe(subscription)


@router.get("/links/{link}/events", response_class=EventSourceResponse,
            summary="Progress of the link's runs (server-sent events)")
async def link_events(_user: Viewer, link: Annotated[str, Depends(_known_link)],
                      request: Request, context: Context) -> AsyncIterator[ServerSentEvent]:
    # the user comes first: an unauthenticated caller learns nothing, not even the links
    async for event in progress_events(context, request, link):
        yield event


@router.get("/events", response_class=EventSourceResponse,
            summary="Progress of every link's runs (server-sent events)")
async def all_events(request: Request, context: Context,
                     _user: Viewer) -> AsyncIterator[ServerSentEvent]:
    async for event in progress_events(context, request, None):
        yield event
