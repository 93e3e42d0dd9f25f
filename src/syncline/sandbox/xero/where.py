"""The ``where`` filter of the Xero sandbox: a small parser for Xero's query expressions.

Grammar (keywords in any case)::

    expression := conjunction { ( OR | "||" ) conjunction }
    conjunction := factor { ( AND | "&&" ) factor }
    factor     := "(" expression ")" | condition
    condition  := path operator literal
                | path "." ( StartsWith | EndsWith | Contains ) "(" string ")"
    operator   := "==" | "!=" | ">" | "<" | ">=" | "<="
    path       := Name { "." Name }                 (Contact.ContactID, UpdatedDateUTC)
    literal    := "text" | number | true | false | null | Guid("...")
                | DateTime(year, month, day [, hour, minute, second])

Comparisons are made on what the values are: dates (``/Date(...)/`` in records) with
``DateTime(...)``, amounts with numbers, text case-insensitively (``StartsWith``,
``EndsWith`` and ``Contains`` too: a SANDBOX choice, Xero documents no case rule for them).
A comparison with a value a record lacks is false (``== null`` asks for a missing or empty
value). ``UpdatedDateUTC`` compares the moment the sandbox stamped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from syncline.sandbox.lexing import Token, TokenCursor, tokenize
from syncline.sandbox.xero.values import from_ms_date, to_number

__all__ = ["Predicate", "WhereInvalid", "comparable", "parse_where", "value_at"]

Predicate = Callable[[Mapping[str, Any]], bool]
"""Whether one stored record (API form plus internal entries) matches."""

_TOKEN = re.compile(r"""
    (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<operator>==|!=|>=|<=|>|<|&&|\|\||[(),.])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
""", re.VERBOSE)
_METHODS = {"startswith": str.startswith, "endswith": str.endswith,
            "contains": str.__contains__}
_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: bool(a == b), "!=": lambda a, b: bool(a != b),
    ">": lambda a, b: bool(a > b), "<": lambda a, b: bool(a < b),
    ">=": lambda a, b: bool(a >= b), "<=": lambda a, b: bool(a <= b)}


class WhereInvalid(Exception):
    """A ``where`` text the sandbox cannot read; the message names the place."""


def _tokens(text: str) -> list[Token]:
    return tokenize(_TOKEN, text, lambda column: WhereInvalid(
        f"the where clause cannot be read at column {column}: "
        f"{text[column - 1:column + 19]!r}"))


def value_at(record: Mapping[str, Any], path: str) -> Any:
    """The value at dotted ``path`` of ``record`` (``None`` when absent);
    ``UpdatedDateUTC`` is the stored moment."""
    if path.lower() == "updateddateutc" and "_updated" in record:
        return record["_updated"]
    current: Any = record
    for part in path.split("."):
        if not isinstance(current, Mapping):
            return None
        lowered = part.lower()
        current = next((item for key, item in current.items() if key.lower() == lowered),
                       None)
    return current


def comparable(actual: Any, like: Any) -> Any:
    """``actual`` (a stored value) in the kind of ``like`` (a literal): a datetime, a
    Decimal, lower-case text; ``None`` when it cannot be one."""
    if actual is None:
        return None
    if isinstance(like, datetime):
        if isinstance(actual, datetime):
            return actual
        text = str(actual)
        try:
            if text.startswith("/Date("):
                return from_ms_date(text)
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    if isinstance(like, bool):
        return actual if isinstance(actual, bool) else None
    if isinstance(like, Decimal):
        try:
            return to_number(actual)
        except ValueError:
            return None
    return str(actual).lower()


class _Parser(TokenCursor):
    def __init__(self, text: str) -> None:
        super().__init__(_tokens(text))

    def fail(self, expecting: str) -> WhereInvalid:
        token = self.current
        shown = token.text or "the end"
        return WhereInvalid(f"the where clause has {shown!r} at column {token.column}; "
                            f"expected {expecting}")

    def take(self, *texts: str) -> str | None:
        token = self.current
        if token.kind in ("operator", "name") and token.text.lower() in texts:
            self.index += 1
            return token.text.lower()
        return None

    def expect(self, text: str) -> None:
        if self.take(text) is None:
            raise self.fail(repr(text))

    def joined(self, words: tuple[str, str], part: Callable[[], Predicate],
               combine: Callable[[Any], bool]) -> Predicate:
        """``part { word part }``: one predicate, or ``combine`` (any, all) of several."""
        parts = [part()]
        while self.take(*words):
            parts.append(part())
        if len(parts) == 1:
            return parts[0]
        return lambda record: combine(test(record) for test in parts)

    def expression(self) -> Predicate:
        return self.joined(("or", "||"), self.conjunction, any)

    def conjunction(self) -> Predicate:
        return self.joined(("and", "&&"), self.factor, all)

    def factor(self) -> Predicate:
        if self.take("("):
            inner = self.expression()
            self.expect(")")
            return inner
        return self.condition()

    def condition(self) -> Predicate:
        if self.current.kind != "name":
            raise self.fail("a field name")
        parts = [self.current.text]
        self.index += 1
        while self.take("."):
            if self.current.kind != "name":
                raise self.fail("a field or method name after '.'")
            name = self.current.text
            self.index += 1
            if name.lower() in _METHODS and self.current.text == "(":
                return self.method(".".join(parts), name.lower())
            parts.append(name)
        path = ".".join(parts)
        operator = self.current.text if self.current.kind == "operator" else ""
        if operator not in _COMPARISONS:
            raise self.fail("==, !=, >, <, >= or <=")
        self.index += 1
        literal = self.literal()
        compare = _COMPARISONS[operator]

        def test(record: Mapping[str, Any]) -> bool:
            actual = value_at(record, path)
            if literal is None:
                missing = actual is None or actual == ""
                return missing if operator == "==" else (
                    not missing if operator == "!=" else False)
            value = comparable(actual, literal)
            wanted = literal.lower() if isinstance(literal, str) else literal
            if value is None:
                return operator == "!="
            try:
                return compare(value, wanted)
            except TypeError:
                return False
        return test

    def method(self, path: str, name: str) -> Predicate:
        self.expect("(")
        if self.current.kind != "string":
            raise self.fail(f"a quoted text for {name}")
        argument = _unquote(self.current.text).lower()
        self.index += 1
        self.expect(")")
        check = _METHODS[name]

        def test(record: Mapping[str, Any]) -> bool:
            actual = value_at(record, path)
            return isinstance(actual, str) and check(actual.lower(), argument)
        return test

    def literal(self) -> Any:
        token = self.current
        self.index += 1
        if token.kind == "string":
            return _unquote(token.text)
        if token.kind == "number":
            return Decimal(token.text)
        word = token.text.lower() if token.kind == "name" else ""
        if word in ("true", "false"):
            return word == "true"
        if word == "null":
            return None
        if word == "guid":
            self.expect("(")
            if self.current.kind != "string":
                raise self.fail("a quoted GUID")
            value = _unquote(self.current.text).lower()
            self.index += 1
            self.expect(")")
            return value
        if word in ("datetime", "datetimeoffset"):
            return self.moment()
        self.index -= 1
        raise self.fail('a quoted text, a number, true, false, null, Guid("...") or '
                        'DateTime(...)')

    def moment(self) -> datetime:
        self.expect("(")
        numbers: list[int] = []
        while True:
            if self.current.kind != "number" or not self.current.text.isdigit():
                raise self.fail("a whole number in DateTime(...)")
            numbers.append(int(self.current.text))
            self.index += 1
            if not self.take(","):
                break
        self.expect(")")
        if len(numbers) not in (3, 6):
            raise WhereInvalid("DateTime(...) takes year, month, day and optionally hour, "
                               "minute, second")
        try:
            year, month, day, hour, minute, second = (*numbers, 0, 0, 0)[:6]
            return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        except ValueError as error:
            raise WhereInvalid(f"DateTime{tuple(numbers)} is not a date: {error}") from None


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def parse_where(text: str) -> Predicate:
    """The predicate of a ``where`` text (see the module docstring).

    Raises:
        WhereInvalid: the text does not follow the grammar (the message says where).
    """
    parser = _Parser(text)
    predicate = parser.expression()
    if parser.current.kind != "end":
        raise parser.fail("AND, OR or the end")
    return predicate
