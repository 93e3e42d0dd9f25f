"""The Accounting API routes of the Xero sandbox (``/api.xro/2.0/...``).

Every call goes through :meth:`AccountingApi.call`, which does what Xero does before and
after the work itself:

1. the ``Authorization: Bearer`` token must be valid (else 401) and the ``xero-tenant-id``
   header must name an organisation the token reaches (else 403);
2. the tenant's rate limits are counted (else 429 with ``Retry-After`` and
   ``X-Rate-Limit-Problem``; see :mod:`.limits`);
3. a write with an ``Idempotency-Key`` already answered for the same request is answered
   the same again without being applied a second time; the same key on a different request
   is refused (400), and on a request still in progress answered 409;
4. the request body is validated against Xero's OpenAPI schema (else 400
   ``PostDataInvalidException``), the work is done, and the response body is validated too
   (a sandbox bug becomes a 500 naming the violation);
5. the call is written to the request log.

``GET /Organisation`` answers the tenant's organisation (see :func:`.store.organisation`).

Batches: ``summarizeErrors=false`` answers 200 with every element, failed ones carrying
``ValidationErrors`` and ``StatusAttributeString: "ERROR"`` (the others are written).
Without it the batch is all or nothing: any failed element makes a 400
``ValidationException`` whose ``Elements`` echo each failed element as it was sent, with its
``ValidationErrors`` and ``HasValidationErrors`` (``HasErrors`` for documents), as the
document's examples show; nothing is written. (Xero's OpenAPI
document gives ``false`` as the default; the service itself summarises unless told not to,
and the sandbox follows the service.)
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from syncline.sandbox.xero.catalog import KINDS, Kind
from syncline.sandbox.xero.limits import RateLimiter
from syncline.sandbox.xero.listing import QueryInvalid, select
from syncline.sandbox.xero.oauth import OAuthServer
from syncline.sandbox.xero.resources import account_in_use
from syncline.sandbox.xero.rules import ElementInvalid, WriteContext
from syncline.sandbox.xero.schema import SchemaViolation, check, operation
from syncline.sandbox.xero.store import (
    IdempotencyReceipt,
    LoggedRequest,
    SandboxStore,
    Tenant,
    organisation,
    public,
)
from syncline.sandbox.xero.values import ms_timestamp, parse_http_date

__all__ = ["PREFIX", "AccountingApi", "Answer"]

PREFIX = "/api.xro/2.0"
_MAX_KEY_LENGTH = 128


@dataclass
class Answer:
    """A response to send: status, JSON body (``None`` for no content) and headers."""

    status: int
    body: Any = None
    headers: dict[str, str] | None = None
    elements: int = 0


def _error(number: int, kind: str, message: str, elements: list[dict[str, Any]] | None = None,
           status: int = 400) -> Answer:
    body: dict[str, Any] = {"ErrorNumber": number, "Type": kind, "Message": message}
    if elements is not None:
        body["Elements"] = elements
    return Answer(status, body)


def _problem(status: int, title: str, detail: str) -> Answer:
    return Answer(status, {"Type": None, "Title": title, "Status": status, "Detail": detail})


def _valid(body: dict[str, Any], schema: str, status: int = 200) -> Answer:
    """``body`` answered with ``status`` once it follows ``schema`` of Xero's document; else
    a 500 naming the violation (a SANDBOX bug, never passed on as a valid answer)."""
    try:
        check(schema, body)
    except SchemaViolation as violation:
        return _error(500, "SandboxResponseInvalid", f"the SANDBOX produced a response "
                      f"that breaks Xero's schema {violation.schema}: {violation}",
                      status=500)
    return Answer(status, body)


def _envelope(kind: Kind, records: list[dict[str, Any]],
              pagination: dict[str, int] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"Id": str(uuid.uuid4()), "Status": "OK",
                            "ProviderName": "syncline Xero SANDBOX",
                            "DateTimeUTC": ms_timestamp(datetime.now(UTC))}
    if pagination is not None:
        body["pagination"] = pagination
    body[kind.collection] = records
    return body


class AccountingApi:
    """The accounting routes over one store (see the module docstring)."""

    def __init__(self, store: SandboxStore, oauth: OAuthServer, limiter: RateLimiter,
                 latency: float = 0.0) -> None:
        self.store = store
        self.oauth = oauth
        self.limiter = limiter
        self.latency = latency

    # -- the pipeline -----------------------------------------------------------------------
    async def call(self, request: Request, work: Callable[[Tenant, bytes], Answer],
                   *, write: bool) -> Response:
        arrived = time.monotonic()
        tenant_id = (request.headers.get("xero-tenant-id") or "").strip().lower() or None
        key = request.headers.get("idempotency-key") if write else None
        entry = LoggedRequest(0, arrived, arrived, tenant_id, request.method,
                              request.url.path, 0, idempotency_key=key,
                              modified_since=request.headers.get("if-modified-since"))
        answer, held = await self._admit(request, tenant_id, key, entry)
        if answer is None and tenant_id is not None:
            try:
                body = await request.body()
                if self.latency:
                    await asyncio.sleep(self.latency)
                answer = self._work(tenant_id, body, key, request, work, entry)
            finally:
                if held:
                    self.limiter.release(tenant_id)
                if key is not None and tenant_id is not None:
                    self.store.in_flight.discard((tenant_id, key))
        assert answer is not None
        headers = dict(answer.headers or {})
        if tenant_id is not None and tenant_id in self.store.tenants:
            headers.update(self.limiter.remaining(tenant_id, time.monotonic()))
        entry.status, entry.elements = answer.status, answer.elements
        entry.finished = time.monotonic()
        self.store.log_request(entry)
        if answer.body is None:
            return Response(status_code=answer.status, headers=headers)
        return JSONResponse(answer.body, status_code=answer.status, headers=headers)

    async def _admit(self, request: Request, tenant_id: str | None, key: str | None,
                     entry: LoggedRequest) -> tuple[Answer | None, bool]:
        """Authentication, tenant, rate limits and the in-progress check of the key."""
        grant = self.oauth.access_grant(request.headers.get("authorization"))
        if grant is None:
            answer = _problem(401, "Unauthorized", "AuthenticationUnsuccessful: the access "
                                                   "token is missing, invalid or expired")
            answer.headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
            return answer, False
        if tenant_id is None or tenant_id not in grant.tenants \
                or tenant_id not in self.store.tenants:
            return _problem(403, "Forbidden", "AuthorizationUnsuccessful: the xero-tenant-id "
                                              "header is missing or names an organisation "
                                              "this connection cannot reach"), False
        if key is not None and (not key.strip() or len(key) > _MAX_KEY_LENGTH):
            return _error(10, "ValidationException", f"The Idempotency-Key must be 1 to "
                                                     f"{_MAX_KEY_LENGTH} characters"), False
        rejection = self.limiter.acquire(tenant_id, entry.arrived)
        if rejection is not None:
            header = rejection.header(self.limiter.limits.scale)
            entry.retry_after, entry.problem = float(header), rejection.problem
            return Answer(429, {"Title": "Too Many Requests", "Status": 429,
                                "Detail": f"rate limit exceeded: {rejection.problem}"},
                          {"Retry-After": header,
                           "X-Rate-Limit-Problem": rejection.problem}), False
        if key is not None:
            with self.store.lock:
                if (tenant_id, key) in self.store.in_flight:
                    self.limiter.release(tenant_id)
                    return _error(409, "ConflictException", "A request with this "
                                  "Idempotency-Key is still being processed", status=409), False
                self.store.in_flight.add((tenant_id, key))
        return None, True

    def _work(self, tenant_id: str, body: bytes, key: str | None, request: Request,
              work: Callable[[Tenant, bytes], Answer], entry: LoggedRequest) -> Answer:
        fingerprint = hashlib.sha256(b"\0".join([
            request.method.encode(), request.url.path.encode(),
            str(request.url.query).encode(), body])).hexdigest()
        with self.store.lock:
            tenant = self.store.tenants[tenant_id]
            if key is not None:
                receipt = self.store.receipts.get((tenant_id, key))
                if receipt is not None:
                    if receipt.fingerprint != fingerprint:
                        return _error(10, "ValidationException", "The Idempotency-Key was "
                                      "already used for a different request")
                    entry.replayed = True
                    return Answer(receipt.status, receipt.body,
                                  {"Idempotent-Replayed": "true"})
            answer = work(tenant, body)
            if key is not None and len(self.store.receipts) % 500 == 499:
                self.store.forget_old_receipts(datetime.now(UTC))
            if key is not None and answer.status < 500:
                self.store.receipts[(tenant_id, key)] = IdempotencyReceipt(
                    fingerprint, answer.status, answer.body, datetime.now(UTC))
        return answer

    # -- reading ----------------------------------------------------------------------------
    def list(self, kind: Kind, query: dict[str, str], since_header: str | None) \
            -> Callable[[Tenant, bytes], Answer]:
        def work(tenant: Tenant, _: bytes) -> Answer:
            since = None
            if since_header and kind.modified_since:
                try:
                    since = parse_http_date(since_header)
                except ValueError as error:
                    return _error(14, "PostDataInvalidException", f"If-Modified-Since: {error}")
            try:
                records, pagination = select(kind, tenant, query, since)
            except QueryInvalid as error:
                return _error(16, "QueryParseException", str(error))
            return self._checked(kind, _envelope(kind, records, pagination))
        return work

    def one(self, kind: Kind, record_id: str) -> Callable[[Tenant, bytes], Answer]:
        def work(tenant: Tenant, _: bytes) -> Answer:
            found = tenant.get(kind.collection, record_id)
            if found is None or (kind.collection == "Accounts"
                                 and found.get("Status") == "DELETED"):
                return _problem(404, "NotFound", "The resource you're looking for cannot be "
                                                 "found")
            return self._checked(kind, _envelope(kind, [public(found)]))
        return work

    def organisation(self) -> Callable[[Tenant, bytes], Answer]:
        """``GET /Organisation``: the tenant's organisation (see :func:`.store.organisation`)."""
        def work(tenant: Tenant, _: bytes) -> Answer:
            body = {"Id": str(uuid.uuid4()), "Status": "OK",
                    "ProviderName": "syncline Xero SANDBOX",
                    "DateTimeUTC": ms_timestamp(datetime.now(UTC)),
                    "Organisations": [organisation(tenant)]}
            return _valid(body, "Organisations")
        return work

    def _checked(self, kind: Kind, body: dict[str, Any], schema: str | None = None) -> Answer:
        return _valid(body, schema or kind.list_schema)

    # -- writing ----------------------------------------------------------------------------
    def write(self, kind: Kind, path: str, method: str, query: dict[str, str],
              record_id: str | None) -> Callable[[Tenant, bytes], Answer]:
        def work(tenant: Tenant, body: bytes) -> Answer:
            return self._write(tenant, body, kind, path, method, query, record_id)
        return work

    def _write(self, tenant: Tenant, raw: bytes, kind: Kind, path: str, method: str,
               query: dict[str, str], record_id: str | None) -> Answer:
        assert kind.writer is not None
        try:
            body = json.loads(raw or b"null", parse_float=Decimal)
        except ValueError as error:
            return _error(14, "PostDataInvalidException", f"JSON for post data was invalid: "
                                                          f"{error}")
        request_schema = operation(path, method)["requestBody"]["content"][
            "application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
        try:
            check(request_schema, json.loads(raw or b"null"))
        except SchemaViolation as violation:
            return _error(14, "PostDataInvalidException",
                          f"JSON for post data was invalid ({request_schema}): {violation}")
        if request_schema == kind.collection:
            elements = body.get(kind.collection) if isinstance(body, dict) else None
            if not isinstance(elements, list) or not elements:
                return _error(14, "PostDataInvalidException",
                              f"the body must hold a non-empty '{kind.collection}' list")
        else:
            elements = [body]
        summarize = query.get("summarizeErrors", "true").lower() != "false"
        places = Decimal("0.0001") if query.get("unitdp") == "4" else Decimal("0.01")
        context = WriteContext(tenant, datetime.now(UTC), create_only=method == "PUT")
        out: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for element in elements:
            target = record_id or element.get(kind.id_field)
            existing = tenant.get(kind.collection, str(target)) if target else None
            try:
                if target and existing is None:
                    raise ElementInvalid(f"{kind.element_schema} '{target}' could not be found")
                if existing is not None and context.create_only:
                    raise ElementInvalid(f"{kind.element_schema} '{target}' already exists; "
                                         f"use POST to update it")
                written = public(kind.writer(context, element, existing, places))
                written["StatusAttributeString"] = "OK"
                out.append(written)
            except ElementInvalid as invalid:
                echo = json.loads(json.dumps(element, default=float))
                echo["ValidationErrors"] = [{"Message": m} for m in invalid.messages]
                flag = "HasErrors" if kind.collection in ("Invoices", "CreditNotes") \
                    else "HasValidationErrors"
                echo[flag] = True
                failed.append(echo)
                out.append({**echo, "StatusAttributeString": "ERROR"})
        if failed and summarize:
            context.rollback()
            answer = _valid({"ErrorNumber": 10, "Type": "ValidationException",
                             "Message": "A validation exception occurred",
                             "Elements": failed}, "Error", status=400)
            answer.elements = len(elements)
            return answer
        answer = self._checked(kind, _envelope(kind, out))
        if answer.status >= 500:
            context.rollback()
        answer.elements = len(elements)
        return answer

    def delete(self, kind: Kind, record_id: str) -> Callable[[Tenant, bytes], Answer]:
        def work(tenant: Tenant, _: bytes) -> Answer:
            found = tenant.get(kind.collection, record_id)
            if found is None or found.get("Status") == "DELETED":
                return _problem(404, "NotFound", "The resource you're looking for cannot be "
                                                 "found")
            if kind.collection == "Items":
                del tenant.collections["Items"][found["ItemID"]]
                return Answer(204)
            if account_in_use(tenant, str(found.get("Code"))) or found.get("SystemAccount"):
                return _error(10, "ValidationException", "This account cannot be deleted as it "
                              "has been used; archive it instead",
                              [{"ValidationErrors": [{"Message": "Account in use"}]}])
            found["Status"] = "DELETED"
            tenant.put(kind.collection, found["AccountID"], found, datetime.now(UTC))
            return self._checked(kind, _envelope(kind, [public(found)]))
        return work


def api_router(api: AccountingApi) -> APIRouter:
    """The ``/api.xro/2.0`` routes."""
    router = APIRouter(prefix=PREFIX, tags=["SANDBOX Accounting API"])

    def kind_of(collection: str) -> Kind | None:
        return KINDS.get(collection.lower())

    def not_found() -> Response:
        return JSONResponse({"Title": "NotFound", "Status": 404,
                             "Detail": "The resource you're looking for cannot be found"},
                            status_code=404)

    def method_not_allowed() -> Response:
        return JSONResponse({"Title": "MethodNotAllowed", "Status": 405,
                             "Detail": "The SANDBOX does not serve this operation"},
                            status_code=405)

    @router.get("/{collection}")
    async def list_records(collection: str, request: Request) -> Response:
        if collection.lower() == "organisation":
            return await api.call(request, api.organisation(), write=False)
        kind = kind_of(collection)
        if kind is None:
            return not_found()
        work = api.list(kind, dict(request.query_params), request.headers.get("if-modified-since"))
        return await api.call(request, work, write=False)

    @router.get("/{collection}/{record_id}")
    async def get_record(collection: str, record_id: str, request: Request) -> Response:
        kind = kind_of(collection)
        if kind is None:
            return not_found()
        return await api.call(request, api.one(kind, record_id), write=False)

    @router.put("/{collection}")
    @router.post("/{collection}")
    async def write_records(collection: str, request: Request) -> Response:
        kind = kind_of(collection)
        if kind is None or kind.writer is None:
            return method_not_allowed()
        path = f"/{kind.collection}"
        try:
            operation(path, request.method)
        except KeyError:
            return method_not_allowed()
        work = api.write(kind, path, request.method, dict(request.query_params), None)
        return await api.call(request, work, write=True)

    @router.post("/{collection}/{record_id}")
    async def update_record(collection: str, record_id: str, request: Request) -> Response:
        kind = kind_of(collection)
        if kind is None or kind.writer is None:
            return method_not_allowed()
        path = f"/{kind.collection}/{{{kind.id_field}}}"
        work = api.write(kind, path, "POST", dict(request.query_params), record_id)
        return await api.call(request, work, write=True)

    @router.delete("/{collection}/{record_id}")
    async def delete_record(collection: str, record_id: str, request: Request) -> Response:
        kind = kind_of(collection)
        if kind is None or not kind.deletable:
            return method_not_allowed()
        return await api.call(request, api.delete(kind, record_id), write=True)

    return router
