"""The HTTP face of the QuickBooks Online SANDBOX (a FastAPI application).

Routes (``{realm}`` is the company's realmId; every ``/v3`` call needs
``Authorization: Bearer <access token>``; the ``minorversion`` query parameter is
:data:`DEFAULT_MINOR_VERSION` when left out, as QBO has it since minor versions below 75
were retired)::

    GET  /v3/company/{realm}/{entity}/{id}             read one object
    GET  /v3/company/{realm}/companyinfo/{realm}        the company's information
    GET  /v3/company/{realm}/preferences                the company's preferences
    POST /v3/company/{realm}/{entity}                   create, or update when the body has
                                                        an Id (``"sparse": true`` for sparse)
    POST /v3/company/{realm}/{entity}?operation=delete  delete a transaction
    POST /v3/company/{realm}/invoice?operation=void     void an invoice (amounts zero)
    GET  /v3/company/{realm}/query?query=SELECT ...     query (POST with a text/plain body too)
    GET  /v3/company/{realm}/cdc?entities=A,B&changedSince=...   change data capture
    POST /v3/company/{realm}/batch                      up to 30 BatchItemRequest operations
    GET  /oauth2/v1/authorize, POST /oauth2/v1/tokens/bearer     OAuth 2.0 (see oauth.py)
    POST /oauth2/v1/tokens/revoke                       revoke a refresh or access token
    GET  /oauth2/v1/userinfo, /oauth2/v1/keys           OpenID user info, signing keys
    GET  /.well-known/openid_configuration              the discovery document naming
                                                        these endpoints (intuit-oauth's
                                                        ``environment`` may be its URL)
    GET  /_sandbox/requests                             the request log (sandbox only)

Each ``/v3`` request passes, in order: the rate limiter (429 + ``Retry-After``), the token
check (401 AuthenticationFault), the ``minorversion`` check (a positive whole number when
given), and the ``requestid`` replay
(a write repeated with a known request id gets the first answer again, nothing is redone).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from syncline.sandbox.qbo.entities import ENTITIES, spec_for_path
from syncline.sandbox.qbo.faults import FaultCode, FaultType, QboFault
from syncline.sandbox.qbo.limits import Limits, RateLimiter, RequestLog, RequestRecord
from syncline.sandbox.qbo.matching import parse_time
from syncline.sandbox.qbo.oauth import SANDBOX_CLIENT_ID, OAuthError, OAuthServer
from syncline.sandbox.qbo.query import parse_query
from syncline.sandbox.qbo.seed import seed_company
from syncline.sandbox.qbo.store import Company

__all__ = ["BANNER", "BATCH_LIMIT", "DEFAULT_MINOR_VERSION", "SandboxState", "create_app"]

BANNER = ("QuickBooks Online SANDBOX by syncline: a local imitation of the QBO Accounting API "
          "v3 for tests and demos. Not Intuit's service; no real books are touched.")
BATCH_LIMIT = 30
"""Most operations one batch request may carry."""
DEFAULT_MINOR_VERSION = 75
"""The minor version a request without ``minorversion`` is answered in (QBO's oldest
supported one)."""

_Answer = tuple[int, dict[str, Any]]


@dataclass
class SandboxState:
    """Everything the sandbox holds: companies, limits, the request log, the OAuth server.
    ``cdc_limit`` is the most objects a CDC answer holds per entity (QBO: 1000).
    ``lose_answers`` is a fault to inject for tests: the next N writes are applied, then
    answered with HTTP 500 as if the answer had been lost on the way (a retry with the same
    ``requestid`` then gets the stored answer)."""

    limits: Limits = field(default_factory=Limits)
    companies: dict[str, Company] = field(default_factory=dict)
    log: RequestLog = field(default_factory=RequestLog)
    oauth: OAuthServer = field(default_factory=OAuthServer)
    cdc_limit: int = 1000
    lose_answers: int = 0
    limiter: RateLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(self.limits)

    def add_company(self, realm: str, *, seed: bool = True) -> Company:
        """A new company (with the starting reference data unless ``seed`` is false)."""
        company = Company(realm)
        if seed:
            seed_company(company)
        self.companies[realm] = company
        return company

    def tokens(self, realm: str) -> dict[str, Any]:
        """Fresh tokens for ``realm`` for the sandbox client (skips the browser step)."""
        return self.oauth.issue(SANDBOX_CLIENT_ID, realm)


def _fault_answer(company: Company | None, fault: QboFault) -> _Answer:
    body: dict[str, Any] = {"Fault": fault.body()}
    if company is not None:
        body["time"] = company.time_text()
    return fault.http_status, body


def _invalid(detail: str, element: str = "") -> QboFault:
    return QboFault(FaultCode.INVALID_PROPERTY, "Request has invalid or unsupported property",
                    detail, element=element)


def _entity(path: str) -> str:
    spec = spec_for_path(path)
    if spec is None:
        raise QboFault(FaultCode.UNSUPPORTED_OPERATION, "Unsupported Operation",
                       f"Operation is not supported: no entity '{path}' in this sandbox "
                       f"(known: {', '.join(ENTITIES)})")
    return spec.name


def _write(company: Company, entity: str, body: dict[str, Any], operation: str) -> Any:
    if operation == "delete":
        return company.delete(entity, body)
    if operation == "void":
        return company.void(entity, body)
    if operation == "update" or (operation == "create" and body.get("Id")):
        return company.update(entity, body)
    if operation != "create":
        raise _invalid(f"operation '{operation}' is not create, update, delete or void",
                       "operation")
    return company.create(entity, body)


def _batch(company: Company, body: Any, request_id: str | None) -> _Answer:
    items = body.get("BatchItemRequest") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise _invalid("the body must hold a non-empty BatchItemRequest list",
                       "BatchItemRequest")
    if len(items) > BATCH_LIMIT:
        raise QboFault(FaultCode.BATCH_TOO_LARGE, "Batch size exceeds allowed limit",
                       f"Batch size exceeds allowed limit: {len(items)} operations sent, at "
                       f"most {BATCH_LIMIT} allowed", element="BatchItemRequest")
    seen: set[str] = set()
    answers: list[dict[str, Any]] = []
    for item in items:
        bid = str(item.get("bId") or "") if isinstance(item, dict) else ""
        try:
            if not bid:
                raise QboFault(FaultCode.REQUIRED_PARAMETER, "Required param missing, need "
                               "to supply the required value for the API",
                               "Required parameter bId is missing in the batch item",
                               element="bId")
            if bid in seen:
                raise _invalid(f"bId '{bid}' is used twice in this batch", "bId")
            if request_id is not None and len(bid) > 10:
                raise _invalid(f"bId '{bid}' is longer than 10 characters, the most allowed "
                               f"with a requestid", "bId")
            seen.add(bid)
            if "Query" in item:
                answers.append({"bId": bid,
                                "QueryResponse": company.query(parse_query(item["Query"]))})
                continue
            names = [name for name in item if name in ENTITIES]
            if len(names) != 1:
                raise _invalid("a batch item must hold exactly one entity object or a Query",
                               "BatchItemRequest")
            entity = names[0]
            result = _write(company, entity, item[entity], str(item.get("operation",
                                                                        "create")))
            answers.append({"bId": bid, entity: result})
        except QboFault as fault:
            answers.append({"bId": bid, "Fault": fault.body()})
    return 200, {"BatchItemResponse": answers, "time": company.time_text()}


def create_app(state: SandboxState) -> FastAPI:
    """The FastAPI application serving ``state``."""
    app = FastAPI(title="QuickBooks Online SANDBOX (syncline)", description=BANNER,
                  version="v3-sandbox")
    app.state.sandbox = state

    async def guarded(request: Request, realm: str,
                      work: Callable[[Company, dict[str, Any], bytes], _Answer],
                      *, replayable: bool) -> Response:
        """Run ``work`` behind the limiter, the token check and the request-id replay."""
        arrived = time.monotonic()
        params = dict(request.query_params)
        request_id = params.get("requestid")
        company = state.companies.get(realm)
        wait = state.limiter.acquire(realm)
        if wait is not None:
            fault = QboFault(FaultCode.THROTTLED, "message=ThrottleExceeded; errorCode=003001; "
                             "statusCode=429", "Too many requests: the sandbox allows "
                             f"{state.limits.per_minute} requests per "
                             f"{state.limits.minute_seconds:g} s and "
                             f"{state.limits.concurrent} at once per company",
                             type=FaultType.SYSTEM, status=429)
            state.log.add(RequestRecord(arrived, realm, request.method, request.url.path,
                                        request_id, 429, wait))
            status, body = _fault_answer(company, fault)
            return JSONResponse(body, status, headers={
                "Retry-After": state.limits.retry_text(wait)})
        status = 500
        try:
            raw = await request.body()
            try:
                state.oauth.check(request.headers.get("authorization"), realm)
                if company is None:
                    raise QboFault(FaultCode.AUTHENTICATION, "message=AuthenticationFailed; "
                                   "errorCode=003200; statusCode=401",
                                   f"no company with realmId {realm}",
                                   type=FaultType.AUTHENTICATION)
                version = params.setdefault("minorversion", str(DEFAULT_MINOR_VERSION))
                if not version.isdigit() or int(version) < 1:
                    raise _invalid(f"minorversion '{version}' is not a positive whole number "
                                   f"(leave it out for {DEFAULT_MINOR_VERSION})",
                                   "minorversion")
                replay = company.answered(request_id) if replayable else None
                if replay is not None:
                    status, body = replay
                else:
                    status, body = await run_in_threadpool(work, company, params, raw)
                    if replayable:
                        company.remember(request_id, status, body)
                        if state.lose_answers > 0:
                            state.lose_answers -= 1
                            status = 500
                            body = {"Fault": QboFault(
                                FaultCode.SYSTEM_ERROR, "An application error has occurred",
                                "the answer was lost (sandbox fault injection)",
                                type=FaultType.SYSTEM).body(), "time": company.time_text()}
            except QboFault as fault:
                status, body = _fault_answer(company, fault)
            return JSONResponse(body, status)
        finally:
            state.limiter.release(realm)
            state.log.add(RequestRecord(arrived, realm, request.method, request.url.path,
                                        request_id, status))

    def json_body(raw: bytes) -> Any:
        try:
            return json.loads(raw or b"null")
        except ValueError as error:
            raise _invalid(f"the body is not JSON: {error}") from None

    @app.get("/")
    def banner() -> dict[str, Any]:
        return {"sandbox": True, "message": BANNER, "realms": sorted(state.companies),
                "limits": {"per_minute": state.limits.per_minute,
                           "concurrent": state.limits.concurrent,
                           "minute_seconds": state.limits.minute_seconds}}

    @app.get("/_sandbox/requests")
    def requests_log() -> dict[str, Any]:
        """The sandbox's log of answered requests (a SANDBOX-only aid for tests and
        benchmarks: arrival on the server's monotonic clock, status, request id, and the
        wait a 429 asked for)."""
        return {"sandbox": True, "requests": [
            {"arrived": r.arrived, "realm": r.realm, "method": r.method, "path": r.path,
             "request_id": r.request_id, "status": r.status, "retry_after": r.retry_after}
            for r in state.log.snapshot()]}

    @app.get("/v3/company/{realm}/query")
    async def query(realm: str, request: Request) -> Response:
        def work(company: Company, params: dict[str, Any], raw: bytes) -> _Answer:
            text = params.get("query") or raw.decode("utf-8", "replace")
            return 200, {"QueryResponse": company.query(parse_query(text)),
                         "time": company.time_text()}
        return await guarded(request, realm, work, replayable=False)

    app.add_api_route("/v3/company/{realm}/query", query, methods=["POST"],
                      operation_id="query_by_post")

    @app.get("/v3/company/{realm}/cdc")
    async def cdc(realm: str, request: Request) -> Response:
        def work(company: Company, params: dict[str, Any], raw: bytes) -> _Answer:
            entities = [name.strip() for name in str(params.get("entities", "")).split(",")
                        if name.strip()]
            if not entities:
                raise _invalid("entities is required (a comma-separated list)", "entities")
            try:
                since = parse_time(str(params.get("changedSince", "")))
            except ValueError:
                raise _invalid(f"changedSince '{params.get('changedSince')}' is not an ISO "
                               f"date or date-time", "changedSince") from None
            responses = company.changes(entities, since, state.cdc_limit)
            return 200, {"CDCResponse": [{"QueryResponse": responses}],
                         "time": company.time_text()}
        return await guarded(request, realm, work, replayable=False)

    @app.post("/v3/company/{realm}/batch")
    async def batch(realm: str, request: Request) -> Response:
        def work(company: Company, params: dict[str, Any], raw: bytes) -> _Answer:
            return _batch(company, json_body(raw), params.get("requestid"))
        return await guarded(request, realm, work, replayable=True)

    @app.get("/v3/company/{realm}/preferences")
    async def preferences(realm: str, request: Request) -> Response:
        def work(company: Company, params: dict[str, Any], raw: bytes) -> _Answer:
            return 200, {"Preferences": company.single("Preferences"),
                         "time": company.time_text()}
        return await guarded(request, realm, work, replayable=False)

    @app.get("/v3/company/{realm}/{entity}/{entity_id}")
    async def read(realm: str, entity: str, entity_id: str, request: Request) -> Response:
        def work(company: Company, params: dict[str, Any], raw: bytes) -> _Answer:
            name = _entity(entity)
            if name == "CompanyInfo" and entity_id == company.realm_id:
                return 200, {name: company.single(name), "time": company.time_text()}
            return 200, {name: company.read(name, entity_id), "time": company.time_text()}
        return await guarded(request, realm, work, replayable=False)

    @app.post("/v3/company/{realm}/{entity}")
    async def write(realm: str, entity: str, request: Request) -> Response:
        def work(company: Company, params: dict[str, Any], raw: bytes) -> _Answer:
            name = _entity(entity)
            body = json_body(raw)
            if not isinstance(body, dict):
                raise _invalid(f"the body must be a {name} object")
            operation = str(params.get("operation") or "create")
            return 200, {name: _write(company, name, body, operation),
                         "time": company.time_text()}
        return await guarded(request, realm, work, replayable=True)

    @app.get("/oauth2/v1/authorize")
    def authorize(request: Request) -> Response:
        params = dict(request.query_params)
        redirect_uri = params.get("redirect_uri", "")
        chosen = params.get("realm") or next(iter(state.companies), "")
        try:
            code = state.oauth.authorize(params.get("client_id", ""), redirect_uri, chosen)
        except OAuthError as error:
            return JSONResponse({"error": error.error,
                                 "error_description": error.description}, error.status)
        query_text = urlencode({"code": code, "state": params.get("state", ""),
                                "realmId": chosen})
        return RedirectResponse(f"{redirect_uri}?{query_text}", 302)

    def client_of(request: Request, form: dict[str, str]) -> tuple[str | None, str | None]:
        """The client credentials of a token request: HTTP Basic, else the form's."""
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(header[6:]).decode("utf-8")
            except (binascii.Error, ValueError):
                decoded = ":"
            client_id, _, client_secret = decoded.partition(":")
        return client_id, client_secret

    @app.post("/oauth2/v1/tokens/bearer")
    async def token(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        try:
            return JSONResponse(state.oauth.token(form, *client_of(request, form)))
        except OAuthError as error:
            return JSONResponse({"error": error.error,
                                 "error_description": error.description}, error.status)

    @app.post("/oauth2/v1/tokens/revoke")
    async def revoke(request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip().startswith(b"{") else dict(
                parse_qsl(raw.decode("utf-8", "replace")))
        except ValueError:
            body = {}
        try:
            state.oauth.revoke(str(body.get("token") or ""), *client_of(request, {}))
        except OAuthError as error:
            return JSONResponse({"error": error.error,
                                 "error_description": error.description}, error.status)
        return Response(status_code=200)

    @app.get("/oauth2/v1/userinfo")
    def userinfo(request: Request) -> Response:
        realm = state.oauth.realm_of(request.headers.get("authorization"))
        if realm is None:
            return JSONResponse({"error": "invalid_token",
                                 "error_description": "the access token is unknown or "
                                                      "expired"}, 401)
        return JSONResponse({"sub": f"sandbox-user-{realm}", "givenName": "Sandbox",
                             "familyName": "User", "email": "user@sandbox.invalid",
                             "emailVerified": True, "realmId": realm})

    @app.get("/oauth2/v1/keys")
    def keys() -> dict[str, Any]:
        return {"keys": []}

    @app.get("/.well-known/openid_configuration")
    @app.get("/.well-known/openid_configuration/")
    def discovery(request: Request) -> dict[str, Any]:
        """The OpenID discovery document, shaped like Intuit's, naming this sandbox's
        endpoints (intuit-oauth reads it when its ``environment`` is this URL)."""
        base = str(request.base_url).rstrip("/")
        return {"issuer": f"{base}/", "authorization_endpoint": f"{base}/oauth2/v1/authorize",
                "token_endpoint": f"{base}/oauth2/v1/tokens/bearer",
                "revocation_endpoint": f"{base}/oauth2/v1/tokens/revoke",
                "userinfo_endpoint": f"{base}/oauth2/v1/userinfo",
                "jwks_uri": f"{base}/oauth2/v1/keys",
                "response_types_supported": ["code"],
                "scopes_supported": ["com.intuit.quickbooks.accounting", "openid"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic",
                                                          "client_secret_post"],
                "sandbox": True}

    return app
