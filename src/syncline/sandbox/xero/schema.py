"""Xero's published OpenAPI document and validation of bodies against its schemas.

The document (``spec/xero_accounting.yaml``, MIT-licensed, see ``spec/LICENSE``) is
vendored unchanged. Bodies are validated against the document's component schemas
(``#/components/schemas/Invoices``...) in two steps: a validator compiled to Python by
``fastjsonschema`` (about a hundred times faster; defaults are not filled in, OpenAPI's own
formats are accepted as they are) lets a valid body through; a body it refuses is checked by
``openapi-schema-validator``'s OpenAPI 3.0 validator (``$ref`` resolved through a
``referencing`` registry holding the whole document), which has the last word and names the
most specific offending value.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import fastjsonschema
import yaml
from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

__all__ = ["SPEC_PATH", "SchemaViolation", "check", "document", "operation"]

SPEC_PATH = Path(__file__).parent / "spec" / "xero_accounting.yaml"
_URI = "urn:syncline:xero-accounting"


class SchemaViolation(Exception):
    """A body does not follow a schema of the document. ``where`` is the JSON path of the
    offending value (``Invoices[0].LineItems[1].Quantity``)."""

    def __init__(self, schema: str, where: str, message: str) -> None:
        self.schema = schema
        self.where = where
        self.message = message
        super().__init__(f"{where or '(body)'}: {message}")


@cache
def document() -> dict[str, Any]:
    """The parsed OpenAPI document (loaded once)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with SPEC_PATH.open("rb") as handle:
        loaded: dict[str, Any] = yaml.load(handle, Loader=loader)
    return loaded


@cache
def _registry() -> Registry[Any]:
    resource: Resource[Any] = DRAFT4.create_resource(document())
    registry: Registry[Any] = Registry().with_resource(_URI, resource)
    return registry


@cache
def _validator(schema: str) -> OAS30Validator:
    if schema not in document()["components"]["schemas"]:
        raise KeyError(f"the Xero document has no schema '{schema}'")
    return OAS30Validator({"$ref": f"{_URI}#/components/schemas/{schema}"},
                          registry=_registry())


_OPENAPI_FORMATS = ("binary", "byte", "date", "double", "int", "uuid")


@cache
def _fast(schema: str) -> Any:
    if schema not in document()["components"]["schemas"]:
        raise KeyError(f"the Xero document has no schema '{schema}'")
    return fastjsonschema.compile(
        {"$ref": f"#/components/schemas/{schema}", "components": document()["components"]},
        formats=dict.fromkeys(_OPENAPI_FORMATS, _accept), use_default=False)


def _accept(_: Any) -> bool:
    return True


def _path(error: Any) -> str:
    """The JSON path of a ``jsonschema`` validation error."""
    text = ""
    for part in error.absolute_path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def check(schema: str, body: Any) -> None:
    """Validate ``body`` against component schema ``schema``.

    Raises:
        SchemaViolation: naming the first offending value (the most specific error).
        KeyError: the document has no such schema.
    """
    try:
        _fast(schema)(body)
        return
    except fastjsonschema.JsonSchemaException:
        pass
    errors = sorted(_validator(schema).iter_errors(body),
                    key=lambda found: (-len(found.absolute_path), found.message))
    if errors:
        first = errors[0]
        raise SchemaViolation(schema, _path(first), first.message)


def operation(path: str, method: str) -> dict[str, Any]:
    """The document's operation object for ``method`` on ``path`` (``/Invoices``, ``put``).

    Raises:
        KeyError: the document does not describe that operation.
    """
    found: dict[str, Any] = document()["paths"][path][method.lower()]
    return found
