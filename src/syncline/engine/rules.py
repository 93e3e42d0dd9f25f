"""Posting rules: pure evaluation of one record against its stream's rules.

No I/O happens here: the caller (:mod:`syncline.engine.rules_gate`) hands in the record, the
compiled rules, the xref tables and whether the record was asked for by ``syncline post``,
and gets back a :class:`Verdict`.

Terms (see :mod:`syncline.rules_config` for the settings and :mod:`syncline.rule_types`
for their plain values):

verdict
    What to do with one record going to the books: ``ok`` (send these fields), ``warning``
    (send them, and journal why with the record, e.g. a rounding line was added), ``error``
    (a blocking error: do not send; the record stays pending and goes once the cause is
    fixed), or one of the quiet skips: ``not_eligible`` (the eligibility rule is false),
    ``excluded`` (the exclusion flag is set), ``awaiting_post`` (``send_all`` is off and
    nobody posted it). Skips send nothing and record nothing, so a document that becomes
    eligible later still goes.
label
    How messages name a document: its number (the first natural key) when it has one,
    else its key: ``invoice INV-1001``.
books total
    What an accounting system computes from the lines it receives: the sum of the line
    amounts (quantity x unit price, to the cent, where a line has no amount) plus the tax
    (the lines' tax amounts where any line has one, else the document's tax total).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from syncline.model import ENTITY_TYPES, FieldType, canonical_value
from syncline.rule_types import AboveTolerance, StreamRules, compile_expression

__all__ = [
    "BILLING_CONTACT",
    "Problem",
    "RuleSet",
    "Verdict",
    "VerdictKind",
    "books_total",
    "document_label",
    "localise",
    "owned_fields",
    "reverse_fields",
]

_CENT = Decimal("0.01")
_SOURCE_LABELS = {"item": "product", "tax_rate": "tax code", "cost_code": "cost centre",
                  "project_code": "project", "contact": "contact", "term": "payment term"}
_BOOKS_DEFAULTS = {"term": "the books' default terms apply"}
"""Xref targets the books have a default for: an unmapped value is left out of the write (the
books apply their default) with a warning saying so, instead of blocking the document."""
BILLING_CONTACT = "contact"
"""The field of a document (a stream with lines) naming whom it is billed to."""


class VerdictKind(StrEnum):
    """The kinds of :class:`Verdict` (see the module docstring)."""

    OK = "ok"
    WARNING = "warning"
    ERROR = "error"
    NOT_ELIGIBLE = "not_eligible"
    EXCLUDED = "excluded"
    AWAITING_POST = "awaiting_post"


Problem = tuple[str | None, str | None]
"""What a blocking rule error is about: the field (or rule setting) and the value."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The rules' answer for one record. ``fields`` are the fields to write (transformed:
    mapped codes, proxy reference, rounding line, status) when the record goes;
    ``assumed`` are values the books keep that the write leaves out (the status of an
    updated document), for the content hash of what the books will hold; ``messages`` say
    why (warnings, errors, skips); ``problems`` are the causes of an error verdict as
    ``(field, value)``, one per message (``("ledger_account", "CONSULT-HR")``);
    ``completed_by_books``: the fields hold a line the rules added (rounding, adjustment),
    which the books complete with values of their own (a tax rate, a tax amount of zero), or
    leave out a value for the books to fill with their default (payment terms), so only the
    document read back after the write says what the books hold."""

    kind: VerdictKind
    fields: dict[str, Any] | None = None
    messages: tuple[str, ...] = ()
    assumed: dict[str, Any] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()
    completed_by_books: bool = False

    @property
    def sends(self) -> bool:
        """Whether the record goes (``ok`` or ``warning``)."""
        return self.kind in (VerdictKind.OK, VerdictKind.WARNING)

    @property
    def skipped(self) -> bool:
        """Whether the record is quietly left out (not eligible, excluded, awaiting post)."""
        return self.kind in (VerdictKind.NOT_ELIGIBLE, VerdictKind.EXCLUDED,
                             VerdictKind.AWAITING_POST)

    @property
    def message(self) -> str:
        return "; ".join(self.messages)


def document_label(stream: str, key: str, fields: Mapping[str, Any]) -> str:
    """The document's number (first natural key) if it has one, else its key."""
    spec = ENTITY_TYPES.get(stream)
    if spec is not None and spec.natural_keys:
        value = canonical_value(fields.get(spec.natural_keys[0]))
        if value is not None:
            return str(value)
    return key


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        return None


def _money(value: Decimal) -> Decimal:
    """``value`` shown to the cent at least (``204`` as ``204.00``; ``0.005`` as is)."""
    cents = value.quantize(_CENT)
    return cents if cents == value else value


def _line_net(line: Mapping[str, Any]) -> Decimal:
    amount = _decimal(line.get("line_amount"))
    if amount is not None:
        return amount
    quantity = _decimal(line.get("quantity"))
    price = _decimal(line.get("unit_price")) or Decimal(0)
    return ((Decimal(1) if quantity is None else quantity) * price).quantize(
        _CENT, rounding=ROUND_HALF_UP)


def books_total(lines: Sequence[Mapping[str, Any]], tax_total: Any) -> Decimal:
    """The total the books compute from ``lines`` (see the module docstring)."""
    net = sum((_line_net(line) for line in lines), Decimal(0))
    line_taxes = [_decimal(line.get("tax_amount")) for line in lines]
    if any(tax is not None for tax in line_taxes):
        tax = sum((tax for tax in line_taxes if tax is not None), Decimal(0))
    else:
        tax = _decimal(tax_total) or Decimal(0)
    return net + tax


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _cel_value(value: Any, spec_type: FieldType | None) -> Any:
    """A canonical value as the expression sees it: dates as ISO text, an empty boolean
    as false, lines as lists of maps."""
    if value is None or value == "":
        return False if spec_type is FieldType.BOOLEAN else None
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return [{name: _cel_value(item, None) for name, item in line.items()}
                if isinstance(line, Mapping) else line for line in value]
    return value


def owned_fields(rules: StreamRules) -> frozenset[str]:
    """The fields the rules write in the books' terms (proxied references, references with a
    fallback, xref targets and, when lines are mapped or checked, the lines): an update
    coming back from the books leaves them alone, so that the local record keeps its own
    customer, codes and lines."""
    owned = {"lines" if target.startswith("lines.") else target for target in rules.proxy}
    owned.update(rules.fallback)
    for source, target in rules.xref.items():
        owned.add("lines" if source.startswith("lines.") else target)
    if rules.totals is not None:
        owned.add("lines")
    return frozenset(owned)


def reverse_fields(rules: StreamRules, fields: dict[str, Any]) -> dict[str, Any]:
    """The fields of an update coming back from the books, less :func:`owned_fields`."""
    owned = owned_fields(rules)
    if not owned:
        return fields
    return {name: value for name, value in fields.items() if name not in owned}


def localise(rules: StreamRules, fields: Mapping[str, Any],
             tables: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    """The fields of a record the books created, for creating it locally: values of in-place
    xref rules (``"lines.tax_rate" = "tax_rate"``: a field mapped to itself) turned back from
    books values into local values, where exactly one local value maps to the books value.
    Other values stay as the books have them. ``fields`` is not changed."""
    inverse: dict[str, dict[str, str]] = {}
    for source, target in rules.xref.items():
        if source.removeprefix("lines.") != target:
            continue
        found: dict[str, list[str]] = {}
        for local, remote in tables.get(target, {}).items():
            found.setdefault(remote, []).append(local)
        inverse[source] = {remote: locals_[0] for remote, locals_ in found.items()
                           if len(locals_) == 1}
    if not inverse:
        return dict(fields)
    out = dict(fields)
    if isinstance(out.get("lines"), list):
        out["lines"] = copy.deepcopy(out["lines"])
    for source, table in inverse.items():
        if source.startswith("lines."):
            name = source[len("lines."):]
            for line in out.get("lines") or ():
                value = canonical_value(line.get(name))
                if value is not None and str(value) in table:
                    line[name] = table[str(value)]
        else:
            value = canonical_value(out.get(source))
            if value is not None and str(value) in table:
                out[source] = table[str(value)]
    return out


@dataclass(frozen=True)
class RuleSet:
    """One stream's rules, compiled. Build with :meth:`compile`."""

    stream: str
    rules: StreamRules
    program: Any = None
    named_fields: tuple[tuple[str, FieldType], ...] = ()
    """The stream's fields the eligibility expression names (with their types): the only
    ones its activation needs."""

    @classmethod
    def compile(cls, stream: str, rules: StreamRules) -> RuleSet:
        """Compile ``rules`` (already checked by :mod:`syncline.rules_config`).

        Raises:
            ValueError: the eligibility expression does not parse.
        """
        if rules.eligible is None:
            return cls(stream, rules)
        words = set(_WORD.findall(rules.eligible))  # a superset of the names it uses
        named = tuple((name, spec.type) for name, spec in ENTITY_TYPES[stream].fields.items()
                      if name in words)
        return cls(stream, rules, compile_expression(rules.eligible), named)

    # -- gates --------------------------------------------------------------------------
    def _activation(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """The values the eligibility expression sees: each field it names, as
        :func:`_cel_value` gives it."""
        return {name: _cel_value(fields.get(name), field_type)
                for name, field_type in self.named_fields}

    def _gate(self, fields: Mapping[str, Any], label: str,
              requested: bool) -> Verdict | None:
        """The verdict of the create-only checks (exclusion, eligibility, send all), or
        ``None`` when the document may go on to be transformed."""
        rules, stream = self.rules, self.stream
        if rules.exclude_flag is not None and \
                _cel_value(fields.get(rules.exclude_flag), FieldType.BOOLEAN) not in (False, 0):
            return Verdict(VerdictKind.EXCLUDED, messages=(
                f"{stream} {label}: kept out of the books ({rules.exclude_flag} is set)",))
        if self.program is not None:
            try:
                result = self.program.execute(self._activation(fields))
            except Exception as error:  # the library raises several kinds
                return Verdict(VerdictKind.ERROR, messages=(
                    f"{stream} {label}: the eligibility rule {rules.eligible!r} cannot be "
                    f"evaluated: {error}",), problems=(("eligible", rules.eligible),))
            if not isinstance(result, bool):
                return Verdict(VerdictKind.ERROR, messages=(
                    f"{stream} {label}: the eligibility rule {rules.eligible!r} gave "
                    f"{result!r}, not true or false",), problems=(("eligible", rules.eligible),))
            if not result:
                return Verdict(VerdictKind.NOT_ELIGIBLE, messages=(
                    f"{stream} {label}: not eligible ({rules.eligible} is false)",))
        if not rules.send_all and not requested:
            return Verdict(VerdictKind.AWAITING_POST, messages=(
                f"{stream} {label}: waits to be posted (send_all is off: syncline post)",))
        return None

    # -- transformations ------------------------------------------------------------------
    def _proxy(self, fields: dict[str, Any], record: Mapping[str, Any]) -> None:
        """Put the proxy's record in each proxied field whose proxy names one (see
        :mod:`syncline.rules_config`): document fields from document fields; line fields
        from the same line's field, or from a document field for every line."""
        for target, proxy_field in self.rules.proxy.items():
            if not target.startswith("lines."):
                proxy = record.get(proxy_field)
                if canonical_value(proxy) is not None and target in fields:
                    fields[target] = proxy
                continue
            name = target[len("lines."):]
            whole = None if proxy_field.startswith("lines.") else record.get(proxy_field)
            per_line = proxy_field[len("lines."):] if proxy_field.startswith("lines.") else None
            own = record.get("lines")
            own_lines = own if isinstance(own, list) else []
            for number, line in enumerate(fields.get("lines") or ()):
                if per_line is None:
                    proxy = whole
                else:  # the record's own line: the write may leave the proxy field out
                    source = own_lines[number] if number < len(own_lines) else line
                    proxy = source.get(per_line, line.get(per_line))
                if canonical_value(proxy) is not None:
                    line[name] = proxy

    def _billing_contact(self, fields: dict[str, Any], record: Mapping[str, Any], label: str,
                         errors: list[str], warnings: list[str],
                         problems: list[Problem]) -> None:
        """A document with no billing contact (see :mod:`syncline.rules_config`) goes under
        its proxy contact or the fallback contact, with a warning, or is blocked; other
        empty references with a fallback take it, with a warning."""
        rules, stream = self.rules, self.stream
        document = ENTITY_TYPES[stream].line_fields is not None
        for name in dict.fromkeys([*rules.fallback, BILLING_CONTACT]):
            if name not in fields or canonical_value(record.get(name)) is not None:
                continue
            if name == BILLING_CONTACT and not document:
                continue
            proxy_field = rules.proxy.get(name)
            proxy = canonical_value(record.get(proxy_field)) if proxy_field else None
            what = "billing contact" if name == BILLING_CONTACT else name.replace("_", " ")
            if proxy is not None:
                warnings.append(f"{stream} {label}: no {what}; sent under the proxy "
                                f"{name.replace('_', ' ')} '{proxy}' ({proxy_field})")
            elif name in rules.fallback:
                fields[name] = rules.fallback[name]
                warnings.append(f"{stream} {label}: no {what}; sent under the fallback "
                                f"{name.replace('_', ' ')} '{rules.fallback[name]}'")
            else:
                errors.append(f"{stream} {label}: no {what} ({name} is empty) and no "
                              f"fallback: set one on the document, or give the stream's "
                              f"rules fallback = {{ {name} = \"KEY\" }}")
                problems.append((name, "empty, no fallback"))

    def _xref(self, fields: dict[str, Any], label: str,
              tables: Mapping[str, Mapping[str, str]], errors: list[str],
              warnings: list[str], problems: list[Problem]) -> None:
        for source_path, target in self.rules.xref.items():
            table = tables.get(target, {})
            what = target.replace("_", " ")
            if source_path.startswith("lines."):
                source = source_path[len("lines."):]
                for number, line in enumerate(fields.get("lines") or (), start=1):
                    value = canonical_value(line.get(source))
                    if value is None:
                        continue
                    found = table.get(str(value))
                    if found is None:
                        errors.append(f"{self.stream} {label} line {number}: no {what} mapped "
                                      f"for {_SOURCE_LABELS.get(source, source)} '{value}'")
                        problems.append((target, str(value)))
                    else:
                        line[target] = found
                continue
            value = canonical_value(fields.get(source_path))
            if value is None:
                continue
            found = table.get(str(value))
            said = f"{self.stream} {label}: no {what} mapped for " \
                   f"{_SOURCE_LABELS.get(source_path, source_path)} '{value}'"
            if found is None and target in _BOOKS_DEFAULTS:
                warnings.append(f"{said}; sent without it: {_BOOKS_DEFAULTS[target]}")
                fields.pop(target, None)
            elif found is None:
                errors.append(said)
                problems.append((target, str(value)))
            elif target in fields:
                fields[target] = found

    def _totals(self, fields: dict[str, Any], record: Mapping[str, Any], label: str,
                errors: list[str], warnings: list[str], problems: list[Problem]) -> None:
        totals = self.rules.totals
        lines = fields.get("lines")
        local = _decimal(fields.get("total", record.get("total")))
        if totals is None or lines is None or local is None:
            return
        computed = books_total(lines, fields.get("tax_total", record.get("tax_total")))
        difference = local - computed
        if difference == 0:
            return
        shown = _money(abs(difference))
        computed, local = _money(computed), _money(local)
        if abs(difference) <= totals.tolerance:
            account, kind = totals.rounding_account, "Rounding"
            warnings.append(f"{self.stream} {label}: books total differs by {shown}; "
                            f"rounding line added")
        elif totals.above is AboveTolerance.ADJUSTMENT:
            account, kind = totals.adjustment_target, "Adjustment"
            warnings.append(f"{self.stream} {label}: books total {computed} differs from the "
                            f"document total {local} by {shown}; adjustment line added")
        else:
            errors.append(f"{self.stream} {label}: books total {computed} differs from the "
                          f"document total {local} by {shown}, more than the tolerance "
                          f"{totals.tolerance}")
            problems.append(("total", f"differs from the books total by more than the "
                                      f"tolerance {totals.tolerance}"))
            return
        lines.append({"description": kind, "quantity": Decimal(1), "unit_price": difference,
                      "line_amount": difference, "ledger_account": account})

    def evaluate(self, record: Mapping[str, Any], write: Mapping[str, Any], *, key: str,
                 creating: bool, requested: bool = False,
                 tables: Mapping[str, Mapping[str, str]] | None = None) -> Verdict:
        """The verdict for one record going to the books.

        ``record`` holds every field the local endpoint read (flags the books never see
        included); ``write`` the fields about to be written (the link's shared fields).
        ``creating``: the document is not in the books yet (eligibility, exclusion, send all
        and the status on create apply only then). ``requested``: someone posted it with
        ``syncline post``. ``tables``: the xref tables (table -> local -> books value).
        Neither input is changed.
        """
        label = document_label(self.stream, key, record)
        rules = self.rules
        if creating:
            gated = self._gate(record, label, requested)
            if gated is not None:
                return gated
        fields = dict(write)
        if isinstance(fields.get("lines"), list):
            fields["lines"] = copy.deepcopy(fields["lines"])
        self._proxy(fields, record)
        errors: list[str] = []
        warnings: list[str] = []
        problems: list[Problem] = []
        self._billing_contact(fields, record, label, errors, warnings, problems)
        defaulted = len(fields)
        self._xref(fields, label, tables or {}, errors, warnings, problems)
        defaulted -= len(fields)  # fields left for the books to fill with their default
        assumed: dict[str, Any] = {}
        if rules.status_on_create is not None and "status" in fields:
            if creating:
                fields["status"] = rules.status_on_create
            else:
                del fields["status"]  # the books own the status once the document is there
                assumed["status"] = rules.status_on_create
        lines = len(fields.get("lines") or ())
        self._totals(fields, record, label, errors, warnings, problems)
        if errors:
            return Verdict(VerdictKind.ERROR, messages=tuple(errors), problems=tuple(problems))
        added = len(fields.get("lines") or ()) > lines or defaulted > 0
        if warnings:
            return Verdict(VerdictKind.WARNING, fields, tuple(warnings), assumed,
                           completed_by_books=added)
        return Verdict(VerdictKind.OK, fields, (), assumed, completed_by_books=added)
