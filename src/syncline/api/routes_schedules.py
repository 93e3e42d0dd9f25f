"""Schedule routes: read a link's schedule (``viewer``) and change it (``admin``).

A change is checked, applied to the running scheduler at once and saved to the configuration
file (see :mod:`syncline.service.schedule_edit`); the answer says whether it was saved, and
why not when the file could not be edited safely (the change then holds until the service
restarts).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from syncline.api.auth import Admin, Context, Viewer
from syncline.api.context import ApiContext
from syncline.api.models import ScheduleBody
from syncline.api.routes_links import check_link
from syncline.config import LinkConfig
from syncline.service.schedule_edit import change_schedule

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["links"])


def _described(context: ApiContext, link: str, settings: LinkConfig) -> dict[str, Any]:
    """The link's schedule settings and the next due time of each of its jobs."""
    jobs = [{"streams": sorted(job.streams) or None, "schedule": str(job.schedule),
             "next_due": job.next_due.isoformat() if job.next_due is not None else None}
            for job in context.service.scheduler.jobs if job.link == link]
    return {"link": link, "schedule": settings.schedule, "on_startup": settings.on_startup,
            "overrides": dict(settings.schedules), "jobs": jobs}


@router.get("/links/{link}/schedule", summary="A link's schedule and when its jobs run next")
def schedule(link: str, context: Context, _user: Viewer) -> dict[str, Any]:
    return _described(context, link, check_link(context, link))


@router.put("/links/{link}/schedule",
            summary="Change a link's schedule: applied at once and saved to the config file")
async def set_schedule(link: str, body: ScheduleBody, context: Context,
                       _user: Admin) -> dict[str, Any]:
    check_link(context, link)
    change = await run_in_threadpool(change_schedule, context.config, context.store,
                                     context.service, link, body.schedule, body.on_startup,
                                     body.overrides)
    described = _described(context, link, context.config.link(link))
    return {**described, "saved": change.saved, "not_saved_because": change.reason}
