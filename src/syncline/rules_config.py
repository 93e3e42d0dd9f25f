"""The ``rules`` and ``xref`` sections of a link: posting rules per stream, checked.

This module parses and checks the settings with pydantic (:class:`StreamRulesSettings`) and
builds the plain values the engine evaluates (:class:`syncline.rule_types.StreamRules`): a
link's ``rules`` hold those (:data:`StreamRulesField`), so that the engine's rules never
load pydantic.

Terms:

posting rule
    What decides whether, and in what form, a record of the local side (a) goes to the books
    (side b): rules apply to writes from a to b; updates coming back from b leave the fields
    the rules own alone (see :func:`syncline.engine.rules.owned_fields`). Rules are declared
    per stream::

        [links.crm-books.rules.invoice]
        eligible = "status in ['shipped', 'finished'] && !on_hold"   # a CEL expression
        exclude_flag = "nc_only"            # a field that keeps a document out for good
        send_all = false                    # off: only documents posted with 'syncline post'
        status_on_create = "AUTHORISED"     # the status documents are created with
        totals = { tolerance = 0.01, above = "error", rounding_account = "860" }
        xref = { "lines.item" = "ledger_account", "lines.tax_rate" = "tax_rate" }
        proxy = { contact = "proxy_contact", "lines.item" = "lines.proxy_item" }
        fallback = { contact = "900" }      # the customer of documents that have none

eligibility expression
    A `CEL <https://cel.dev>`_ expression over the record's canonical fields (``lines`` is a
    list of maps) that must be ``true`` for a new document to go. Dates are ISO text
    (``date >= '2024-01-01'``), decimals are numbers, empty fields are ``null``. Evaluated
    by the ``common-expression-language`` package: never Python ``eval``.
cross-reference (xref)
    ``"SOURCE" = "TARGET"``: the value of field SOURCE (``lines.item`` for a line field) is
    looked up in the xref table called TARGET and written to field TARGET of the same record
    or line. Tables hold *local value -> books value* entries, in the config
    (``[links.NAME.xref.TABLE]``) and in the state store (``syncline xref``); the state
    store's entry wins. A value with no entry blocks the document.
proxy
    ``FIELD = "PROXY_FIELD"``: when the document's PROXY_FIELD names a record, the document
    is posted with FIELD set to that record: customers (``contact = "proxy_contact"``: all
    web-shop orders under one 'Web Customer'), vendors (``vendor = "proxy_vendor"`` on
    bills) and items (``"lines.item" = "lines.proxy_item"``: each line whose ``proxy_item``
    is set goes under that item; ``"lines.item" = "proxy_item"``: every line of a document
    whose ``proxy_item`` is set). Both fields must refer to the same stream.
billing contact
    The ``contact`` of a document (a stream with lines): the customer or supplier it is
    billed to. A document without one goes under its proxy contact when it names one, else
    under ``fallback``'s contact, with a warning either way; with neither it is blocked.
fallback
    ``FIELD = "KEY"``: the record (its key in the local system, or a books code when the
    stream it names is not synced) a document goes with when its reference field FIELD is
    empty, with a warning.
payment terms
    A document's ``term``. With an xref on it (``xref = { term = "term" }``), a term with no
    entry does not block the document: it goes without one, so that the books' default
    terms apply, with a warning.
totals check
    The total the books will compute from the lines is compared with the document's own
    ``total``; a difference up to ``tolerance`` adds a rounding line on ``rounding_account``
    (a warning); a larger one blocks the document (``above = "error"``) or adds an
    adjustment line on ``adjustment_account`` (``above = "adjustment"``, a warning too).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from decimal import Decimal
from difflib import get_close_matches
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetPydanticSchema,
    field_validator,
)
from pydantic_core import CoreSchema, core_schema

from syncline.errors import ConfigError
from syncline.model import ENTITY_TYPES, FieldType
from syncline.rule_types import (
    AboveTolerance,
    StreamRules,
    TotalsRule,
    compile_expression,
    expression_fields,
)

__all__ = [
    "StreamRulesField",
    "StreamRulesSettings",
    "TotalsRuleSettings",
    "check_link_rules",
    "rules_allowed_keys",
]

_STRICT = ConfigDict(extra="forbid", frozen=True)


class TotalsRuleSettings(BaseModel):
    """The ``totals`` table of a stream's rules, checked; :meth:`to_rule` gives the plain
    :class:`~syncline.rule_types.TotalsRule`."""

    model_config = _STRICT
    tolerance: Decimal = Field(default=Decimal("0.01"), ge=0)
    above: AboveTolerance = AboveTolerance.ERROR
    rounding_account: str
    adjustment_account: str | None = None

    def to_rule(self) -> TotalsRule:
        """These settings as the plain value the engine evaluates."""
        return TotalsRule(tolerance=self.tolerance, above=self.above,
                          rounding_account=self.rounding_account,
                          adjustment_account=self.adjustment_account)


class StreamRulesSettings(BaseModel):
    """The ``[links.NAME.rules.STREAM]`` table, checked (see the module docstring);
    :meth:`to_rules` gives the plain :class:`~syncline.rule_types.StreamRules`."""

    model_config = _STRICT
    eligible: str | None = None
    exclude_flag: str | None = None
    send_all: bool = True
    status_on_create: str | None = None
    totals: TotalsRuleSettings | None = None
    xref: dict[str, str] = Field(default_factory=dict)
    proxy: dict[str, str] = Field(default_factory=dict)
    fallback: dict[str, str | int] = Field(default_factory=dict)
    """Field -> record key; a whole number is taken as its text (``contact = 900``)."""

    @field_validator("eligible", "exclude_flag", "status_on_create")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty (leave the setting out instead)")
        return value

    def to_rules(self) -> StreamRules:
        """These settings as the plain value the engine evaluates."""
        return StreamRules(eligible=self.eligible, exclude_flag=self.exclude_flag,
                           send_all=self.send_all, status_on_create=self.status_on_create,
                           totals=self.totals.to_rule() if self.totals is not None else None,
                           xref=dict(self.xref), proxy=dict(self.proxy),
                           fallback={name: str(key) for name, key in self.fallback.items()})


def _stream_rules_schema(_source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
    """Validate as :class:`StreamRulesSettings` (its errors keep their locations), then
    build the plain :class:`~syncline.rule_types.StreamRules`; serialize back to a dict."""
    return core_schema.no_info_after_validator_function(
        StreamRulesSettings.to_rules, handler(StreamRulesSettings),
        serialization=core_schema.plain_serializer_function_ser_schema(asdict))


StreamRulesField = Annotated[StreamRules, GetPydanticSchema(_stream_rules_schema)]
"""The type of a link's ``rules`` values in a pydantic model: parsed and checked as
:class:`StreamRulesSettings`, held as the plain :class:`~syncline.rule_types.StreamRules`."""


def rules_allowed_keys(parent: tuple[int | str, ...]) -> list[str] | None:
    """The settings allowed in the table at ``parent`` (a key path) when it lies inside a
    link's ``rules``; ``None`` for any other table."""
    if len(parent) < 3 or parent[0] != "links" or parent[2] != "rules":
        return None
    if len(parent) == 4:
        return list(StreamRulesSettings.model_fields)
    if len(parent) == 5 and parent[4] == "totals":
        return list(TotalsRuleSettings.model_fields)
    return None


# -- checking against the link ----------------------------------------------------------------
def _suggest(name: str, options: list[str]) -> str:
    close = get_close_matches(name, options, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _field_path(stream: str, path: str, *, key: str, source: str | None,
                what: str) -> tuple[bool, str]:
    """Check ``field`` or ``lines.field`` against the stream's canonical fields; returns
    (is a line field, field name).

    Raises:
        ConfigError: no such field.
    """
    spec = ENTITY_TYPES[stream]
    if path.startswith("lines."):
        if spec.line_fields is None:
            raise ConfigError(f"{what} '{path}': {stream} has no lines", key=key, source=source)
        name = path[len("lines."):]
        known = list(spec.line_fields)
        if name not in known:
            raise ConfigError(f"unknown {stream} line field '{name}' in {what} '{path}'"
                              f"{_suggest(name, known)}; line fields: {', '.join(known)}",
                              key=key, source=source)
        return True, name
    known = [name for name, field in spec.fields.items() if field.type is not FieldType.LINES]
    if path not in known:
        raise ConfigError(f"unknown {stream} field '{path}' in {what}{_suggest(path, known)}; "
                          f"fields: {', '.join(known)}", key=key, source=source)
    return False, path


def _check_proxy(stream: str, field_name: str, proxy_field: str, *, key: str,
                 source: str | None) -> None:
    """Check one proxy setting ``field_name = "proxy_field"`` (see the module docstring).

    Raises:
        ConfigError: an unknown field, a document field proxied by a line field, or two
            fields that do not refer to the same stream.
    """
    spec = ENTITY_TYPES[stream]
    target_in_lines, target = _field_path(stream, field_name, key=key, source=source,
                                          what="proxy")
    proxy_in_lines, proxy = _field_path(stream, proxy_field, key=key, source=source,
                                        what=f"proxy of '{field_name}'")
    if proxy_in_lines and not target_in_lines:
        raise ConfigError(f"proxy '{field_name}' = '{proxy_field}': a document field cannot be "
                          f"proxied by a line field", key=key, source=source)
    lines = spec.line_fields or {}
    target_spec = lines[target] if target_in_lines else spec.fields[target]
    proxy_spec = lines[proxy] if proxy_in_lines else spec.fields[proxy]
    if target_spec.reference is None:
        raise ConfigError(f"proxy '{field_name}': only references to other records (contact, "
                          f"vendor, item...) can be proxied; {field_name} is not one",
                          key=key, source=source)
    if proxy_spec.reference != target_spec.reference:
        named = _a(proxy_spec.reference) if proxy_spec.reference else "no record"
        raise ConfigError(f"proxy '{field_name}' = '{proxy_field}': {field_name} names "
                          f"{_a(target_spec.reference)}, {proxy_field} {named}; both must "
                          f"name the same kind of record", key=key, source=source)


def _a(noun: str) -> str:
    """``noun`` with its indefinite article: 'an item', 'a contact'."""
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def _check_stream(link_name: str, streams: Sequence[str], stream: str, rules: StreamRules,
                  source: str | None) -> None:
    where = f"links.{link_name}.rules.{stream}"
    if stream not in streams:
        raise ConfigError(f"'{stream}' is not one of the link's streams"
                          f"{_suggest(stream, list(streams))}; its streams: "
                          f"{', '.join(streams)}", key=where, source=source)
    spec = ENTITY_TYPES[stream]
    known = list(spec.fields)
    if rules.eligible is not None:
        key = f"{where}.eligible"
        try:
            program = compile_expression(rules.eligible)
        except ValueError as error:
            detail = str(error).replace("\n", " ")
            raise ConfigError(f"the expression {rules.eligible!r} is not valid CEL: {detail}",
                              key=key, source=source) from None
        for name in sorted(expression_fields(rules.eligible, program)):
            if name not in spec.fields:
                raise ConfigError(
                    f"unknown field '{name}' in the expression {rules.eligible!r}"
                    f"{_suggest(name, known)}; {stream} fields: {', '.join(known)}",
                    key=key, source=source)
    if rules.exclude_flag is not None:
        _field_path(stream, rules.exclude_flag, key=f"{where}.exclude_flag", source=source,
                    what="exclude_flag")
    for source_path, target in rules.xref.items():
        key = f"{where}.xref"
        in_lines, _ = _field_path(stream, source_path, key=key, source=source, what="xref")
        target_path = f"lines.{target}" if in_lines else target
        _field_path(stream, target_path, key=key, source=source,
                    what=f"xref target of '{source_path}'")
    for field_name, proxy_field in rules.proxy.items():
        _check_proxy(stream, field_name, proxy_field, key=f"{where}.proxy", source=source)
    for field_name, record_key in rules.fallback.items():
        key = f"{where}.fallback"
        in_lines, _ = _field_path(stream, field_name, key=key, source=source, what="fallback")
        if in_lines or spec.fields[field_name].reference is None:
            raise ConfigError(f"fallback '{field_name}': only a document's references to other "
                              f"records (contact, vendor...) can have a fallback",
                              key=key, source=source)
        if not record_key.strip():
            raise ConfigError(f"fallback '{field_name}': the record key must not be empty",
                              key=key, source=source)
    if rules.totals is not None and spec.line_fields is None:
        raise ConfigError(f"a totals check needs a document with lines; {stream} has none",
                          key=f"{where}.totals", source=source)


def check_link_rules(link_name: str, streams: Sequence[str], rules: Mapping[str, StreamRules],
                     xref: Mapping[str, Mapping[str, str]], source: str | None) -> None:
    """Check the ``rules`` and ``xref`` tables of one link (called ``link_name``, syncing
    ``streams``) against its streams and the canonical fields. ``source`` names the config
    file in errors.

    Raises:
        ConfigError: naming the file, the link, the stream's setting and the problem (an
            unknown field in an expression, an expression that does not parse, a stream the
            link does not sync, an xref table no rule uses).
    """
    used: set[str] = set()
    for stream, stream_rules in rules.items():
        _check_stream(link_name, streams, stream, stream_rules, source)
        used.update(stream_rules.xref.values())
    for table in xref:
        if table not in used:
            raise ConfigError(f"xref table '{table}' is used by no rule"
                              f"{_suggest(table, sorted(used))}; tables the rules use: "
                              f"{', '.join(sorted(used)) or 'none'}",
                              key=f"links.{link_name}.xref.{table}", source=source)
