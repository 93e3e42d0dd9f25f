"""Error answers of the API: one shape for all of them, *problem details* (RFC 9457).

Terms:

problem
    The body of every error answer (4xx and 5xx), sent as ``application/problem+json``::

        {"type": "about:blank", "title": "Not Found", "status": 404,
         "detail": "no run 7"}

    ``title`` is the HTTP reason phrase of ``status``; ``detail`` says what went wrong and
    where, in one sentence. An answer to a request whose parameters or body do not validate
    (422) adds ``errors``: one entry per problem with ``loc`` (where: ``["query",
    "limit"]``), ``msg`` and ``type``; an unparsable body is 400 (``detail`` says so).
documented answers
    :func:`add_problems` adds to every operation of the OpenAPI document the error
    answers it can give, all with the :class:`Problem` schema: 401 and 403 (every operation
    needs a token and a role), 422 (parameters or a body to check), 400 (a body to parse),
    404 (a path, or a ``link`` parameter, naming something), 409 (an operation that
    changes something) and 503 (the state store is out of reach).

:func:`problem_response` makes an answer of this shape (helpers adding handlers of their
own use it); :func:`install_problem_handlers` answers FastAPI's own errors (an
``HTTPException``, a request that does not validate) with it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from syncline.redaction import scrub

__all__ = ["PROBLEM_MEDIA_TYPE", "FieldProblem", "Problem", "ProblemResponse",
           "add_problems", "document_problems", "http_problem", "install_problem_handlers",
           "problem_response", "validation_problem"]

PROBLEM_MEDIA_TYPE = "application/problem+json"


class FieldProblem(BaseModel):
    """One reason a request did not validate: where (``loc``), what (``msg``), which check
    (``type``)."""

    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """An error answer (RFC 9457 problem details; see the module docstring)."""

    type: str = Field(default="about:blank", description="Always about:blank: the status "
                      "says what kind of problem it is.")
    title: str = Field(description="The HTTP reason phrase of the status.")
    status: int = Field(ge=400, le=599)
    detail: str = Field(description="What went wrong and where.")
    errors: list[FieldProblem] | None = Field(
        default=None, description="422 only: each parameter or body field that is wrong.")


class ProblemResponse(JSONResponse):
    """A problem answer, with every known secret replaced by ``***`` (``secrets`` are set
    by :func:`~syncline.api.app.create_app`)."""

    media_type = PROBLEM_MEDIA_TYPE
    secrets: ClassVar[set[str]] = set()

    def render(self, content: Any) -> bytes:
        body = super().render(content)
        text = body.decode("utf-8")
        cleaned = scrub(text, self.secrets)
        return body if cleaned == text else cleaned.encode("utf-8")


def _title(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Error"


def problem_response(code: int, detail: str, *, headers: Mapping[str, str] | None = None,
                     errors: Sequence[FieldProblem] | None = None) -> ProblemResponse:
    """An answer with status ``code`` saying ``detail`` (see the module docstring)."""
    body = Problem(title=_title(code), status=code, detail=detail,
                   errors=list(errors) if errors is not None else None)
    return ProblemResponse(body.model_dump(exclude_none=True), status_code=code,
                           headers=dict(headers) if headers else None)


def http_problem(error: StarletteHTTPException) -> ProblemResponse:
    """The answer to an ``HTTPException`` (its ``detail`` as text, its headers kept)."""
    detail = error.detail if isinstance(error.detail, str) else str(error.detail)
    return problem_response(error.status_code, detail, headers=error.headers)


def _where(location: Sequence[Any]) -> str:
    return ".".join(str(part) for part in location)


def validation_problem(error: RequestValidationError) -> ProblemResponse:
    """The answer to a request that does not validate: 400 for a body that is not JSON,
    else 422 listing each wrong parameter or field."""
    found = list(error.errors())
    if any(item.get("type") == "json_invalid" for item in found):
        item = next(item for item in found if item.get("type") == "json_invalid")
        reason = (item.get("ctx") or {}).get("error", "")
        said = f": {reason}" if reason else ""
        return problem_response(status.HTTP_400_BAD_REQUEST,
                                f"the request body is not valid JSON{said}")
    problems = [FieldProblem(loc=[part if isinstance(part, int) else str(part)
                                  for part in item.get("loc", ())],
                             msg=str(item.get("msg", "")), type=str(item.get("type", "")))
                for item in found]
    detail = "; ".join(f"{_where(item.loc)}: {item.msg}" for item in problems) \
        or "the request is not valid"
    return problem_response(status.HTTP_422_UNPROCESSABLE_CONTENT, detail, errors=problems)


def install_problem_handlers(app: FastAPI) -> None:
    """Answer ``HTTPException``, requests that do not validate and unexpected errors (500)
    with problems."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        return http_problem(error)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
        return validation_problem(error)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, error: Exception) -> JSONResponse:
        """A bug: a problem saying so (the trace goes to the service log), never a page of
        plain text."""
        return problem_response(status.HTTP_500_INTERNAL_SERVER_ERROR,
                                f"the service failed ({type(error).__name__}); the "
                                f"service log has the details")


_REF = "#/components/schemas/Problem"
_CHANGING = {"post", "put", "patch", "delete"}


def _answer(what: str) -> dict[str, Any]:
    schema = {"$ref": _REF}
    return {"description": what,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": schema}}}


def _operation_problems(method: str, operation: dict[str, Any]) -> dict[str, str]:
    """The error answers ``operation`` can give: status -> what it means."""
    found = {"401": "No API token, or an unknown one.",
             "403": "The user's role may not do this.",
             "503": "The state store is out of reach: try again later."}
    parameters = operation.get("parameters", [])
    if parameters or "requestBody" in operation:
        found["422"] = "A parameter or the body is not valid (each listed in errors)."
    if "requestBody" in operation:
        found["400"] = "The body could not be parsed (not JSON)."
    if any(parameter.get("in") == "path" or parameter.get("name") == "link"
           for parameter in parameters):
        found["404"] = "What the path (or the link parameter) names does not exist."
    if method in _CHANGING:
        found["409"] = "The request conflicts with the current state (busy, paused, taken)."
    return found


def add_problems(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` (an OpenAPI document) with the error answers of each operation (see the
    module docstring) and the :class:`Problem` schema; FastAPI's own validation error
    schemas, no longer used, are taken out."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem.pop("$defs", {}))
    schemas["Problem"] = problem
    for item in document.get("paths", {}).values():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            answers = operation.setdefault("responses", {})
            for code, what in _operation_problems(method, operation).items():
                answers[code] = _answer(what)
    text = json.dumps(document)
    for unused in ("HTTPValidationError", "ValidationError"):
        if f"#/components/schemas/{unused}" not in text:
            schemas.pop(unused, None)
    return document


def document_problems(app: FastAPI) -> None:
    """Make ``app``'s OpenAPI document describe the error answers (see
    :func:`add_problems`)."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        app.openapi_schema = add_problems(original())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
