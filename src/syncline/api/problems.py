"""Error answers in the problem-details shape (RFC 9457, ``application/problem+json``).

A **problem** is a JSON object with ``type`` (a URI naming the kind of problem;
``about:blank`` when the status says it all), ``title`` (the status's short text),
``status`` (the HTTP status code) and ``detail`` (what happened, for people).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi.responses import JSONResponse

__all__ = ["PROBLEM_JSON", "problem"]

PROBLEM_JSON = "application/problem+json"


def problem(status: int, detail: str, *, type_: str = "about:blank",
            headers: dict[str, str] | None = None,
            response_class: type[JSONResponse] = JSONResponse,
            **extra: Any) -> JSONResponse:
    """A problem-details answer (see the module docstring); ``extra`` members are added to
    the object (e.g. ``retry_after``)."""
    body: dict[str, Any] = {"type": type_, "title": HTTPStatus(status).phrase,
                            "status": status, "detail": detail, **extra}
    return response_class(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)
