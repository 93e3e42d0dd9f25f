"""The API's request and response bodies (pydantic models, documented in the OpenAPI
document at ``/api/openapi.json``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator

from syncline.service.stores import PASSWORD_MIN_LENGTH, Role

__all__ = [
    "ROW_ID_MAX",
    "ErrorBody",
    "ForceResyncBody",
    "PauseBody",
    "ResolveBody",
    "RetryBody",
    "RowId",
    "RowIdQuery",
    "ScheduleBody",
    "SyncAllFlagBody",
    "SyncBody",
    "TokenBody",
    "TokenCreated",
    "TriggerAnswer",
    "UserBody",
    "UserOut",
    "UserUpdateBody",
    "XrefBody",
]

_STRICT = ConfigDict(extra="forbid")

ROW_ID_MAX = 2_147_483_647
"""The largest id of a run, journal row, conflict or API token (the state store's ids are
32-bit integers): a larger one in a path or query is refused with 422, never looked up."""

RowId = Annotated[int, Path(ge=1, le=ROW_ID_MAX, description="An id (1 to 2147483647).")]
"""A run, conflict or token id in a path."""
RowIdQuery = Annotated[int | None, Query(ge=1, le=ROW_ID_MAX,
                                         description="An id (1 to 2147483647).")]
"""A run or journal row id in a query (optional)."""


class ErrorBody(BaseModel):
    """What an error answer holds: ``detail`` says what went wrong and where (the whole
    answer is a :class:`~syncline.api.problems.Problem`)."""

    detail: str


def _printable_name(value: str) -> str:
    """``value`` when it is a printable user name (no control character, no space)."""
    if not value.isprintable() or any(char.isspace() for char in value):
        raise ValueError("a user name may hold no space and no control character")
    return value


class SyncBody(BaseModel):
    """A selective sync: chosen streams (none: all), modification dates and a key range
    (all inclusive); ``allow_mass_delete`` consents to deletions beyond the link's
    ``max_delete``."""

    model_config = _STRICT
    streams: list[str] = Field(default_factory=list)
    since: datetime | None = None
    until: datetime | None = None
    from_key: str | None = None
    to_key: str | None = None
    allow_mass_delete: bool = False


class ForceResyncBody(BaseModel):
    """A forced resynchronisation (``syncline force``): which records to send again (action
    code R), from which side, and whether to run at once (``now``) or with the next run."""

    model_config = _STRICT
    streams: list[str] = Field(default_factory=list)
    from_key: str | None = None
    to_key: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    due_from: datetime | None = None
    due_to: datetime | None = None
    owner: str | None = None
    mine: bool = Field(default=False, description="Only records owned by the calling user "
                       "(like --mine); not with owner.")
    with_related: bool = False
    source: Literal["a", "b"] | None = Field(
        default=None, description="The authoritative side (default: the link's).")
    now: bool = False
    email: list[str] = Field(
        default_factory=list, description="E-mail the detailed log of the run that sends "
        "the records to these addresses (needs [notify.smtp] in the configuration).")


class ResolveBody(BaseModel):
    """Resolve a conflict: the side whose version wins (written by the next run)."""

    model_config = _STRICT
    side: Literal["a", "b"]
    run_now: bool = Field(default=False, description="Also start a run of the link now.")


class RetryBody(BaseModel):
    """Retry the records that could not go: the streams to retry (none: every stream with
    such records)."""

    model_config = _STRICT
    streams: list[str] = Field(default_factory=list)


class PauseBody(BaseModel):
    """Pause or resume a link, or only one of its streams."""

    model_config = _STRICT
    stream: str | None = None


class SyncAllFlagBody(BaseModel):
    """Whether a link takes part in Sync All."""

    model_config = _STRICT
    enabled: bool


class ScheduleBody(BaseModel):
    """A link's schedule settings (see :mod:`syncline.service_config`): ``schedule`` for the
    link, ``on_startup``, and per-stream ``overrides`` (stream -> schedule; the ones left
    out follow the link's)."""

    model_config = _STRICT
    schedule: str = Field(examples=["every 30m", "*/10 * * * *", "daily", "manual"])
    on_startup: bool = False
    overrides: dict[str, str] = Field(default_factory=dict)


class TriggerAnswer(BaseModel):
    """What became of a request to run: ``started``, ``queued`` (behind the run going on),
    ``coalesced`` (merged into the waiting request) or ``paused`` (not started)."""

    link: str
    status: str
    mode: str
    trigger: str
    streams: list[str]
    requested_by: list[str]
    merged: int


class UserBody(BaseModel):
    """A new user."""

    model_config = _STRICT
    name: str = Field(min_length=1, max_length=200)
    role: Role
    password: str | None = Field(default=None, min_length=PASSWORD_MIN_LENGTH,
                                 max_length=1000)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _printable_name(value)


class UserUpdateBody(BaseModel):
    """Changes to a user: a new role and / or password."""

    model_config = _STRICT
    role: Role | None = None
    password: str | None = Field(default=None, min_length=PASSWORD_MIN_LENGTH,
                                 max_length=1000)


class UserOut(BaseModel):
    """A user as the API shows it (never a password or token)."""

    name: str
    role: Role
    created_at: datetime
    created_by: str | None
    has_password: bool
    tokens: int


class TokenBody(BaseModel):
    """A new API token's label."""

    model_config = _STRICT
    label: str | None = Field(default=None, max_length=200)


class TokenCreated(BaseModel):
    """A new API token: shown this once, stored only as a hash."""

    user: str
    token: str
    label: str | None


class XrefBody(BaseModel):
    """The books value a local value maps to in an xref table."""

    model_config = _STRICT
    remote: str = Field(min_length=1, max_length=255)


def jsonable(value: Any) -> Any:
    """``value`` with datetimes as ISO text and bytes dropped (for run and journal rows)."""
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()
                if not isinstance(item, bytes | bytearray | memoryview)}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value
