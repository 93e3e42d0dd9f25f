"""The OpenAPI document at /api/openapi.json is a valid OpenAPI 3.1 document: its schemas
are valid OAS 3.1 schemas, every reference resolves, every operation is secured with the
bearer token, and the answers the running service gives match the schemas it publishes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import referencing
from openapi_schema_validator import OAS31Validator
from referencing.jsonschema import DRAFT202012

from service.support import MemoryLink
from syncline.state.users_store import Role

from .support import Served, wait_for

BASE = "urn:syncline-openapi"


def _document(api: Served) -> dict[str, Any]:
    answer = httpx.get(f"{api.url}/api/openapi.json")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    document: dict[str, Any] = answer.json()
    return document


def _refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str):
                yield item
            else:
                yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def _pointer(document: dict[str, Any], reference: str) -> Any:
    assert reference.startswith("#/"), reference
    found: Any = document
    for part in reference[2:].split("/"):
        found = found[part.replace("~1", "/").replace("~0", "~")]
    return found


def _validator(document: dict[str, Any], pointer: str) -> OAS31Validator:
    """A validator of the schema at ``pointer`` in the document (its references resolved
    within the document)."""
    resource = referencing.Resource.from_contents(document, default_specification=DRAFT202012)
    registry: referencing.Registry[Any] = referencing.Registry().with_resource(BASE, resource)
    return OAS31Validator({"$ref": f"{BASE}#{pointer}"}, registry=registry)


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def test_document_is_valid_openapi_31(api: Served) -> None:
    document = _document(api)
    assert document["openapi"].startswith("3.1.")
    assert document["info"]["title"] == "syncline" and document["info"]["version"]
    schemes = document["components"]["securitySchemes"]
    bearer = [name for name, scheme in schemes.items()
              if scheme == {"type": "http", "scheme": "bearer",
                            "description": scheme.get("description")}]
    assert bearer, schemes
    for name, schema in document["components"]["schemas"].items():
        OAS31Validator.check_schema(schema)  # raises SchemaError when invalid
        assert name
    for reference in set(_refs(document)):
        assert _pointer(document, reference) is not None, reference
    seen: set[str] = set()
    for path, item in document["paths"].items():
        assert path.startswith("/api/"), path
        for method, operation in item.items():
            assert method in {"get", "post", "put", "patch", "delete"}
            assert operation["operationId"] not in seen
            seen.add(operation["operationId"])
            assert operation["responses"], (method, path)
            assert {next(iter(entry)) for entry in operation["security"]} <= set(bearer), \
                (method, path)
            assert operation["summary"], (method, path)
            for parameter in operation.get("parameters", []):
                OAS31Validator.check_schema(parameter["schema"])
    assert len(seen) >= 30


def _check(document: dict[str, Any], method: str, template: str,
           answer: httpx.Response) -> None:
    """``answer`` matches the schema the document gives for its status."""
    code = str(answer.status_code)
    media_type = answer.headers["content-type"].split(";")[0]
    assert "schema" in document["paths"][template][method]["responses"][code][
        "content"][media_type]
    pointer = "/" + "/".join(_escape(part) for part in (
        "paths", template, method, "responses", code, "content", media_type, "schema"))
    _validator(document, pointer).validate(answer.json())


def test_answers_match_the_published_schemas(api: Served, link: MemoryLink) -> None:
    document = _document(api)
    for number in range(5):
        link.a.put("contact", f"c{number}", {"name": f"N{number}",
                                             "email": f"n{number}@example.com"})
    operator, admin, viewer = (api.client(role) for role in
                               (Role.OPERATOR, Role.ADMIN, Role.VIEWER))
    started = operator.post("/api/links/lr/sync", json={"streams": ["contact"]})
    _check(document, "post", "/api/links/{link}/sync", started)
    wait_for(lambda: [row for row in api.store.runs("lr") if row["outcome"] == "ok"],
             "the run")
    calls = [
        ("get", "/api/links", viewer.get("/api/links")),
        ("get", "/api/links/{link}", viewer.get("/api/links/lr")),
        ("get", "/api/links/{link}/runs", viewer.get("/api/links/lr/runs")),
        ("get", "/api/links/{link}/journal", viewer.get("/api/links/lr/journal")),
        ("get", "/api/me", viewer.get("/api/me")),
        ("get", "/api/users", admin.get("/api/users")),
        ("post", "/api/users", admin.post("/api/users", json={"name": "dan",
                                                              "role": "operator"})),
        ("post", "/api/users/{name}/tokens", admin.post("/api/users/dan/tokens", json={})),
        ("post", "/api/links/{link}/force-sync", admin.post("/api/links/lr/force-sync")),
        ("get", "/api/endpoints", viewer.get("/api/endpoints")),
    ]
    for method, template, answer in calls:
        assert answer.status_code < 300, (template, answer.text)
        _check(document, method, template, answer)
    refused = viewer.post("/api/links/lr/sync", json={})
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json() == {"type": "about:blank", "title": "Forbidden", "status": 403,
                              "detail": refused.json()["detail"]}
    assert "needs the operator role" in refused.json()["detail"]
    _check(document, "post", "/api/links/{link}/sync", refused)
    invalid = operator.post("/api/links/lr/sync", json={"streams": "contact", "bogus": 1})
    assert invalid.status_code == 422
    _check(document, "post", "/api/links/{link}/sync", invalid)
    assert {tuple(item["loc"]) for item in invalid.json()["errors"]} == \
        {("body", "streams"), ("body", "bogus")}
    assert "body.streams" in invalid.json()["detail"]
