"""The subset of QBO's query language the SANDBOX understands, with a small real parser.

Grammar (keywords in any case; ``ORDER BY`` and ``ORDERBY`` both accepted)::

    query      := SELECT ( COUNT "(" "*" ")" | fields ) FROM entity
                  [ WHERE condition { AND condition } ]
                  [ ORDERBY ordering { "," ordering } ]
                  [ STARTPOSITION integer ] [ MAXRESULTS integer ]
    condition  := path ( operator literal | IN "(" literal { "," literal } ")"
                         | LIKE string )
    operator   := "=" | "<" | ">" | "<=" | ">="
    fields     := ( "*" | name ) { "," ( "*" | name ) }
    ordering   := path [ ASC | DESC ]
    path       := name { "." name }                  (e.g. MetaData.LastUpdatedTime)
    literal    := 'quoted text' (backslash escapes) | number | true | false

A field list (``SELECT Id, DisplayName FROM Customer``) answers only those properties of
each object (marked ``"sparse": true``); ``*`` among them (``SELECT *, Sku FROM Item``, as
python-quickbooks asks for items) answers every property. As in QBO: no ``OR``, no joins;
``LIKE`` knows only ``%``. A query that does
not follow the grammar raises :class:`~syncline.sandbox.qbo.faults.QboFault` with code 4000
and a ``QueryParserError`` detail naming the token and its column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from syncline.sandbox.lexing import Token, TokenCursor, tokenize
from syncline.sandbox.qbo.faults import FaultCode, QboFault

__all__ = ["Condition", "Ordering", "Query", "parse_query"]

_TOKEN = re.compile(r"""
    (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<operator><=|>=|=|<|>)
  | (?P<symbol>[*(),])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
""", re.VERBOSE)

_KEYWORDS = frozenset({"select", "from", "where", "and", "in", "like", "orderby", "order", "by",
                       "asc", "desc", "startposition", "maxresults", "count", "true",
                       "false", "or"})


@dataclass(frozen=True, slots=True)
class Condition:
    """``path op value``; for ``IN`` the value is a list, for ``LIKE`` a pattern."""

    path: tuple[str, ...]
    operator: str
    value: Any


@dataclass(frozen=True, slots=True)
class Ordering:
    path: tuple[str, ...]
    descending: bool = False


@dataclass
class Query:
    """A parsed query. ``fields`` are the properties a field list names (``None``: every
    property, as ``*`` asks); ``start`` is 1-based; ``max_results`` ``None`` when not
    given."""

    entity: str
    count: bool = False
    fields: tuple[str, ...] | None = None
    conditions: list[Condition] = field(default_factory=list)
    ordering: list[Ordering] = field(default_factory=list)
    start: int = 1
    max_results: int | None = None

    def mentions(self, name: str) -> bool:
        """Whether a condition filters on top-level property ``name`` (case-insensitive)."""
        return any(c.path[0].lower() == name.lower() for c in self.conditions)


def _tokens(text: str) -> list[Token]:
    return tokenize(_TOKEN, text, lambda column: _parser_error(
        f"Lexical error at line 1, column {column}. Encountered: \"{text[column - 1]}\""),
        end="<EOF>")


def _parser_error(detail: str) -> QboFault:
    return QboFault(FaultCode.QUERY_PARSER, "Error parsing query",
                    f"QueryParserError: {detail}")


class _Parser(TokenCursor):
    def __init__(self, text: str) -> None:
        super().__init__(_tokens(text))

    def fail(self, expecting: str) -> QboFault:
        token = self.current
        return _parser_error(f"Encountered \" {token.kind} \"{token.text}\" \" at line 1, "
                             f"column {token.column}. Was expecting: {expecting}")

    def keyword(self, *words: str) -> str | None:
        if self.current.word in words:
            word = self.current.word
            self.index += 1
            return word
        return None

    def expect_keyword(self, *words: str) -> str:
        found = self.keyword(*words)
        if found is None:
            raise self.fail(" or ".join(w.upper() for w in words))
        return found

    def symbol(self, text: str) -> bool:
        if self.current.kind == "symbol" and self.current.text == text:
            self.index += 1
            return True
        return False

    def expect_symbol(self, text: str) -> None:
        if not self.symbol(text):
            raise self.fail(f'"{text}"')

    def name(self, what: str) -> str:
        token = self.current
        if token.kind != "name" or token.word in _KEYWORDS:
            raise self.fail(what)
        self.index += 1
        return token.text

    def integer(self, what: str) -> int:
        token = self.current
        if token.kind != "number" or not token.text.lstrip("-").isdigit():
            raise self.fail(what)
        self.index += 1
        return int(token.text)

    def literal(self) -> Any:
        token = self.current
        if token.kind == "string":
            self.index += 1
            return re.sub(r"\\(.)", r"\1", token.text[1:-1])
        if token.kind == "number":
            self.index += 1
            return Decimal(token.text)
        if token.word in ("true", "false"):
            self.index += 1
            return token.word == "true"
        raise self.fail("<STRING> or <NUMBER> or true or false")

    def condition(self) -> Condition:
        path = tuple(self.name("<PROPERTY>").split("."))
        if self.keyword("in"):
            self.expect_symbol("(")
            values = [self.literal()]
            while self.symbol(","):
                values.append(self.literal())
            self.expect_symbol(")")
            return Condition(path, "in", values)
        if self.keyword("like"):
            if self.current.kind != "string":
                raise self.fail("<STRING>")
            return Condition(path, "like", self.literal())
        if self.current.kind != "operator":
            raise self.fail('"=" or "<" or ">" or "<=" or ">=" or IN or LIKE')
        operator = self.current.text
        self.index += 1
        return Condition(path, operator, self.literal())

    def fields(self) -> tuple[str, ...] | None:
        """The field list: ``None`` when it holds ``*`` (every property)."""
        names: list[str] = []
        everything = False
        while True:
            if self.symbol("*"):
                everything = True
            else:
                names.append(self.name('"*" or <PROPERTY>'))
            if not self.symbol(","):
                break
        return None if everything else tuple(names)

    def parse(self) -> Query:
        self.expect_keyword("select")
        counting = False
        if self.keyword("count"):
            self.expect_symbol("(")
            self.expect_symbol("*")
            self.expect_symbol(")")
            counting = True
        fields = None if counting else self.fields()
        self.expect_keyword("from")
        query = Query(self.name("<ENTITY>"), count=counting, fields=fields)
        if self.keyword("where"):
            query.conditions.append(self.condition())
            while self.keyword("and"):
                query.conditions.append(self.condition())
            if self.current.word == "or":
                raise _parser_error(f"OR is not supported (column {self.current.column})")
        if self.keyword("orderby") or (self.keyword("order") and self.expect_keyword("by")):
            while True:
                path = tuple(self.name("<PROPERTY>").split("."))
                descending = self.keyword("asc", "desc") == "desc"
                query.ordering.append(Ordering(path, descending))
                if not self.symbol(","):
                    break
        if self.keyword("startposition"):
            query.start = self.integer("<INTEGER>")
            if query.start < 1:
                raise _parser_error("STARTPOSITION must be 1 or more")
        if self.keyword("maxresults"):
            query.max_results = self.integer("<INTEGER>")
            if query.max_results < 1:
                raise _parser_error("MAXRESULTS must be 1 or more")
        if self.current.kind != "end":
            raise self.fail("<EOF>")
        return query


def parse_query(text: str) -> Query:
    """Parse ``text`` (see the module docstring).

    Raises:
        QboFault: code 4000 (``QueryParserError``) when the text does not follow the grammar.
    """
    if not text.strip():
        raise _parser_error("the query is empty")
    return _Parser(text).parse()
