"""QuickBooks Online faults as the SANDBOX answers them.

A **fault** is QBO's error body::

    {"Fault": {"Error": [{"Message": "Stale Object Error", "Detail": "...", "code": "5010",
                          "element": ""}],
               "type": "ValidationFault"},
     "time": "2026-11-22T07:40:01.123-07:00"}

``type`` is ``ValidationFault`` (the request was refused for its content, HTTP 400),
``SystemFault`` (the service could not answer, HTTP 500 / 429) or ``AuthenticationFault``
(HTTP 401). Inside a batch the same ``Fault`` object answers one item, next to its ``bId``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["FaultCode", "FaultType", "QboFault", "not_found", "stale_object"]


class FaultType(StrEnum):
    VALIDATION = "ValidationFault"
    SYSTEM = "SystemFault"
    AUTHENTICATION = "AuthenticationFault"


class FaultCode(StrEnum):
    """The QBO error codes this sandbox answers with."""

    UNSUPPORTED_OPERATION = "500"
    OBJECT_NOT_FOUND = "610"
    BATCH_TOO_LARGE = "1040"
    INVALID_PROPERTY = "2010"
    REQUIRED_PARAMETER = "2020"
    INVALID_ID = "2030"
    INVALID_REFERENCE = "2500"
    THROTTLED = "3001"
    AUTHENTICATION = "3200"
    QUERY_PARSER = "4000"
    QUERY_VALIDATION = "4001"
    STALE_OBJECT = "5010"
    BUSINESS_VALIDATION = "6000"
    SYSTEM_ERROR = "10000"
    AMOUNT_MISMATCH = "6070"
    DUPLICATE_NAME = "6240"


_HTTP_STATUS = {FaultType.VALIDATION: 400, FaultType.SYSTEM: 500,
                FaultType.AUTHENTICATION: 401}


@dataclass
class QboFault(Exception):
    """A fault to answer with (see the module docstring). ``status`` overrides the HTTP
    status the fault type implies (429 for throttling)."""

    code: FaultCode
    message: str
    detail: str
    type: FaultType = FaultType.VALIDATION
    element: str = ""
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(f"{self.code.value} {self.message}: {self.detail}")

    @property
    def http_status(self) -> int:
        return self.status if self.status is not None else _HTTP_STATUS[self.type]

    def body(self) -> dict[str, Any]:
        """The ``Fault`` object (without the surrounding ``time``)."""
        return {"Error": [{"Message": self.message, "Detail": self.detail,
                           "code": self.code.value, "element": self.element}],
                "type": self.type.value}


def stale_object(entity: str, entity_id: str, sent: str, current: str) -> QboFault:
    """The fault for an update or delete that carries an old SyncToken."""
    return QboFault(FaultCode.STALE_OBJECT, "Stale Object Error",
                    f"Stale Object Error : You and another user were working on the same "
                    f"thing. {entity} {entity_id} has SyncToken {current}, the request sent "
                    f"{sent}.", element="SyncToken")


def not_found(entity: str, entity_id: str) -> QboFault:
    """The fault for an Id that does not exist (or was deleted)."""
    return QboFault(FaultCode.OBJECT_NOT_FOUND, "Object Not Found",
                    f"Object Not Found : Something you're trying to use has been made "
                    f"inactive or deleted: {entity} Id {entity_id}.", element="Id")
