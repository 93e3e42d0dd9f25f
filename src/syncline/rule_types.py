"""The posting rules of a stream as plain values, and the compiler of their eligibility
expressions.

The settings are defined and checked in :mod:`syncline.rules_config` (which parses the
``rules`` section of a link with pydantic and builds these values); the pure evaluation is
:mod:`syncline.engine.rules`. This module imports nothing but the standard library (the CEL
package loads when an expression is first compiled), so that the engine's rules never load
the configuration layer.

Terms (the module docstring of :mod:`syncline.rules_config` explains each setting):

stream rules
    What decides whether, and in what form, a record of side a goes to the books (side b):
    an eligibility expression, an exclusion flag, whether every document goes or only those
    posted, the status documents are created with, a totals check, cross-references and
    proxies (:class:`StreamRules`).
totals rule
    How a difference between the document's total and the total the books compute is
    treated: a rounding line up to ``tolerance``, beyond it an error or an adjustment line
    (:class:`TotalsRule`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

__all__ = [
    "AboveTolerance",
    "StreamRules",
    "TotalsRule",
    "XrefTables",
    "compile_expression",
    "expression_fields",
]

XrefTables = dict[str, dict[str, str]]
"""Xref table name -> local value -> books value."""


class AboveTolerance(StrEnum):
    """What a totals difference beyond the tolerance does: block the document, or post it
    with an adjustment line (and a warning)."""

    ERROR = "error"
    ADJUSTMENT = "adjustment"


@dataclass(frozen=True, slots=True, kw_only=True)
class TotalsRule:
    """The totals check of a document stream (see the module docstring): differences up to
    ``tolerance`` get a rounding line on ``rounding_account``; larger ones are treated as
    ``above`` says, an adjustment going to ``adjustment_account`` (default: the rounding
    account)."""

    tolerance: Decimal = Decimal("0.01")
    above: AboveTolerance = AboveTolerance.ERROR
    rounding_account: str
    adjustment_account: str | None = None

    @property
    def adjustment_target(self) -> str:
        """The ledger account of adjustment lines (the rounding account unless set)."""
        return self.adjustment_account or self.rounding_account


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamRules:
    """The posting rules of one stream of a link (see the module docstring): ``eligible``
    is a CEL expression, ``exclude_flag`` a field, ``xref`` maps a source field path
    (``lines.item`` for a line field) to an xref table (and target field), ``proxy`` maps a
    field to the field whose value stands in for it, ``fallback`` maps a reference field
    (``contact``) to the record it takes when the document has none."""

    eligible: str | None = None
    exclude_flag: str | None = None
    send_all: bool = True
    status_on_create: str | None = None
    totals: TotalsRule | None = None
    xref: dict[str, str] = field(default_factory=dict)
    proxy: dict[str, str] = field(default_factory=dict)
    fallback: dict[str, str] = field(default_factory=dict)


_MACRO = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")


def compile_expression(text: str) -> Any:
    """Compile a CEL expression.

    Raises:
        ValueError: the expression does not parse (the message shows where).
    """
    import cel

    return cel.compile(text)


def expression_fields(text: str, program: Any) -> set[str]:
    """The record fields an expression reads: its free variables, less the variables that
    its macros (``lines.exists(l, ...)``) bind."""
    bound = set(_MACRO.findall(text))
    return {name for name in program.variables() if name not in bound}
