"""Links: their status, starting syncs (selective, Force Sync, forced resynchronisation,
Sync All), pause / resume, and the endpoints (settings masked).

Roles: reading needs ``viewer``; starting a sync and pause / resume ``operator``; Force
Sync, forced resynchronisation, Sync All and the Sync All switch ``admin``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, status

from syncline.api.auth import Admin, Context, Operator, Viewer
from syncline.api.context import ApiContext
from syncline.api.masking import mask_settings, mask_text_urls
from syncline.api.models import (
    ForceResyncBody,
    PauseBody,
    SyncAllFlagBody,
    SyncBody,
    TriggerAnswer,
    jsonable,
)
from syncline.config import LinkConfig
from syncline.errors import UsageError
from syncline.model import Side
from syncline.service import ReadScope, RunMode, RunRequest, Trigger, TriggerResult
from syncline.service.criteria import ForceCriteria
from syncline.service.force_mail import parse_recipients

__all__ = ["check_link", "check_streams", "router", "trigger_answer"]

router = APIRouter(prefix="/api", tags=["links"])

_RECENT_RUNS = 50  # runs looked at for each stream's last synced time


def check_link(context: ApiContext, link: str) -> LinkConfig:
    """The link called ``link``.

    Raises:
        HTTPException: 404 naming the configured links.
    """
    found = context.config.links.get(link)
    if found is None:
        known = ", ".join(sorted(context.config.links)) or "none"
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no link '{link}'; links: {known}")
    return found


def check_streams(link: str, settings: LinkConfig, streams: list[str]) -> None:
    """Check ``streams`` with :meth:`~syncline.config.LinkConfig.check_streams`.

    Raises:
        HTTPException: 422 with its message when a stream is not one of the link's.
    """
    try:
        settings.check_streams(link, streams)
    except UsageError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None


def _refuse_paused(context: ApiContext, link: str, streams: list[str]) -> None:
    controls = context.controls.controls(link)
    if controls.paused:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"link '{link}' is paused (by {controls.updated_by or 'someone'}); "
                            f"resume it first")
    paused = sorted(set(streams) & controls.paused_streams)
    if paused:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"stream(s) {', '.join(paused)} of link '{link}' are paused; "
                            f"resume them first")


def trigger_answer(result: TriggerResult) -> TriggerAnswer:
    request = result.request
    return TriggerAnswer(link=result.link, status=result.status.value, mode=request.mode.value,
                         trigger=request.trigger.value, streams=sorted(request.streams),
                         requested_by=list(request.requested_by),
                         merged=request.merged_count)


def _aware(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return None


def link_status(context: ApiContext, name: str) -> dict[str, Any]:
    """Everything the dashboard shows about one link."""
    settings = context.config.links[name]
    service = context.service.status(name)[0]
    store = context.store
    runs = store.runs(name, limit=_RECENT_RUNS)
    per_stream: dict[str, dict[str, Any]] = {}
    for stream in settings.streams:
        done = next((run for run in runs if run["outcome"] in ("ok", "warning", "error")
                     and not run["dry_run"] and stream in (run.get("counts") or {})), None)
        per_stream[stream] = {
            "last_synced_at": jsonable(_aware(done["finished_at"])) if done else None,
            "last_run_id": done["id"] if done else None,
            "counts": (done.get("counts") or {}).get(stream) if done else None,
            "schedule": settings.schedules.get(stream, settings.schedule),
        }
    controls = context.controls.controls(name)
    for stream in controls.paused_streams:
        if stream in per_stream:
            per_stream[stream]["paused"] = True
    for entry in per_stream.values():
        entry.setdefault("paused", False)
    last = runs[0] if runs else None
    return {
        "link": name,
        "a": settings.a,
        "b": settings.b,
        "direction": settings.direction.value,
        "conflict": settings.conflict.value,
        "schedule": settings.schedule,
        "on_startup": settings.on_startup,
        "streams": per_stream,
        "last_run": jsonable(last) if last else None,
        "last_synced_at": jsonable(store.last_synced_at(name)),
        "last_duration_s": last.get("duration_s") if last else None,
        "last_outcome": last.get("outcome") if last else None,
        "next_run": service["next_run"],
        "running": service["running"],
        "queued": service["queued"],
        "progress": context.hub.snapshot(name),
        "last_error": service["last_error"],
        "marked": service["marked"],
        "lock": service["lock"],
        "pending_items": len(store.pending_items(name)),
        "open_conflicts": len(store.conflicts(name)),
        "controls": controls.to_json(),
        "sync_user": settings.sync_user,
        "notify": _notify_summary(settings),
    }


def _notify_summary(settings: LinkConfig) -> dict[str, Any] | None:
    """Who hears of the link's failed runs (no secret)."""
    notify = settings.notify
    if notify is None:
        return None
    return {"on": [event.value for event in notify.on], "email": list(notify.email),
            "webhook": mask_text_urls(notify.webhook) if notify.webhook else None}


@router.get("/links", summary="Every link and its status")
def list_links(context: Context, _user: Viewer) -> list[dict[str, Any]]:
    return [link_status(context, name) for name in context.config.links]


@router.get("/links/{link}", summary="One link's status")
def get_link(link: str, context: Context, _user: Viewer) -> dict[str, Any]:
    check_link(context, link)
    return link_status(context, link)


@router.post("/links/{link}/sync", status_code=status.HTTP_202_ACCEPTED,
             summary="Start a sync (selective: streams, dates, key range)")
def start_sync(link: str, body: SyncBody, context: Context, user: Operator) -> TriggerAnswer:
    settings = check_link(context, link)
    check_streams(link, settings, body.streams)
    _refuse_paused(context, link, body.streams)
    request = RunRequest(link, RunMode.INCREMENTAL, frozenset(body.streams),
                         ReadScope(since=body.since, until=body.until, from_key=body.from_key,
                                   to_key=body.to_key),
                         Trigger.API, (user.name,), body.allow_mass_delete)
    return trigger_answer(context.service.submit(request))


@router.post("/links/{link}/force-sync", status_code=status.HTTP_202_ACCEPTED,
             summary="Force Sync: a full run reconciling both sides completely")
def force_sync(link: str, context: Context, user: Admin) -> TriggerAnswer:
    check_link(context, link)
    _refuse_paused(context, link, [])
    return trigger_answer(context.service.force_sync(link, requested_by=user.name))


@router.post("/links/{link}/force", summary="Forced resynchronisation: mark records to send "
             "again (action code R), optionally running at once")
def force_resync(link: str, body: ForceResyncBody, context: Context,
                 user: Admin) -> dict[str, Any]:
    settings = check_link(context, link)
    check_streams(link, settings, body.streams)
    if body.now:
        _refuse_paused(context, link, body.streams)
    if body.mine and body.owner is not None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            "give owner or mine, not both")
    criteria = ForceCriteria(
        streams=tuple(body.streams), from_key=body.from_key, to_key=body.to_key,
        since=body.since, until=body.until, due_from=body.due_from, due_to=body.due_to,
        owner=user.name if body.mine else body.owner, with_related=body.with_related,
        source=Side(body.source) if body.source is not None else None)
    mailer = context.force_mailer
    recipients = parse_recipients(",".join(body.email)) if body.email else []
    if recipients and (mailer is None or not mailer.enabled):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            "e-mailing the log needs [notify.smtp] in the configuration")
    log_path = mailer.log_path(link) if recipients and mailer is not None else None
    result = context.service.force(link, criteria, requested_by=user.name, now=body.now,
                                   log_path=log_path)
    if log_path is not None and mailer is not None:
        mailer.expect(result.request_id, link, recipients, log_path)
    return {**result.to_json(), "run_now": body.now,
            "log": str(log_path) if log_path is not None else None, "email": recipients}


@router.post("/links/{link}/pause", summary="Pause a link (or one stream): no run starts")
def pause(link: str, body: PauseBody, context: Context, user: Operator) -> dict[str, Any]:
    settings = check_link(context, link)
    if body.stream is not None:
        check_streams(link, settings, [body.stream])
    return context.controls.set_paused(link, True, stream=body.stream,
                                       user=user.name).to_json()


@router.post("/links/{link}/resume", summary="Resume a paused link (or stream)")
def resume(link: str, body: PauseBody, context: Context, user: Operator) -> dict[str, Any]:
    settings = check_link(context, link)
    if body.stream is not None:
        check_streams(link, settings, [body.stream])
    return context.controls.set_paused(link, False, stream=body.stream,
                                       user=user.name).to_json()


@router.put("/links/{link}/sync-all",
            summary="Whether the link takes part in Sync All (every link is off until switched on)")
def set_sync_all(link: str, body: SyncAllFlagBody, context: Context,
                 user: Admin) -> dict[str, Any]:
    check_link(context, link)
    return context.controls.set_sync_all(link, body.enabled, user=user.name).to_json()


@router.post("/sync-all", status_code=status.HTTP_202_ACCEPTED,
             summary="Sync All: start every link switched on for it and not paused")
def sync_all(context: Context, user: Admin) -> dict[str, Any]:
    selection = context.controls.sync_all_selection(context.config.links)
    started = [trigger_answer(context.service.trigger(name, requested_by=user.name,
                                                      trigger=Trigger.API))
               for name in selection.taking_part]
    return {"started": [answer.model_dump() for answer in started],
            "skipped": dict(selection.left_out)}


@router.get("/endpoints", summary="The configured endpoints (secrets masked)")
def endpoints(context: Context, _user: Viewer) -> list[dict[str, Any]]:
    return [{"endpoint": name, "connector": endpoint.connector,
             "settings": mask_settings(endpoint.settings)}
            for name, endpoint in context.config.endpoints.items()]


@router.get("/links/{link}/notifications",
            summary="The latest notifications sent (or tried) about the link's runs")
def notifications(link: str, context: Context, _user: Viewer) -> list[dict[str, Any]]:
    check_link(context, link)
    if context.notifier is None:
        return []
    return [delivery.to_json() for delivery in reversed(context.notifier.deliveries)
            if delivery.link == link]
