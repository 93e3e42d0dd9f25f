"""Content lines of vCard (RFC 6350 / RFC 2426) items, read and written losslessly.

Terms:

content line
    One property of an item after unfolding: ``[group "."] NAME *(";" param) ":" value``.
prefix
    The text of a content line before the colon that ends the parameters (group, name and
    parameters exactly as written). A changed property keeps its prefix byte for byte, so
    parameters such as ``TYPE=work`` or ``PREF=1`` survive an update untouched.
raw value
    The value as written, still escaped (``\\,``, ``\\;``, ``\\n``, ``\\\\``).

Lines nobody changes are written back exactly as they were read; only the lines of mapped
properties are rebuilt. That is how an update keeps X- properties, PHOTO, parameters and the
order of everything syncline does not map.

This module is deliberately small and fast: reading a folder of 10,000 cards must not cost
seconds in parsing. :func:`parse_item` builds every line (about 30 µs per card);
:func:`scan_plain` reads a plain item's lines in one regular-expression pass (about 10 µs),
for readers that only want values (:func:`syncline.formats.vcard.read_card`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from syncline.errors import MalformedRecord

__all__ = [
    "ContentLine",
    "Item",
    "escape_text",
    "fold",
    "join_structured",
    "parse_item",
    "plain_line",
    "scan_plain",
    "split_structured",
    "unescape_text",
]

_NAME = re.compile(r"(?:([A-Za-z0-9-]+)\.)?([A-Za-z0-9-]+)")
_UNESCAPE = re.compile(r"\\(.)", re.DOTALL)
_ESCAPES = {"n": "\n", "N": "\n"}


def unescape_text(raw: str) -> str:
    """The text a raw TEXT value stands for (``\\n`` is a new line, ``\\,`` a comma...)."""
    if "\\" not in raw:
        return raw
    return _UNESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), raw)


def escape_text(text: str) -> str:
    """The raw form of a TEXT value (backslash, comma, semicolon and line breaks escaped).

    A line break is written ``\\n``, the only one vCard and iCalendar know, whatever it was:
    CRLF, a lone CR or LF (a raw CR would end the content line). Read back, the text has LF
    line breaks; canonical text compares it equal (see :mod:`syncline.model`).
    """
    if "\\" not in text and "," not in text and ";" not in text and "\n" not in text \
            and "\r" not in text:
        return text  # the usual case, without six passes over it
    return (text.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;")
            .replace("\r\n", "\\n").replace("\r", "\\n").replace("\n", "\\n"))


def _split_unescaped(raw: str, separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    chars = iter(raw)
    for char in chars:
        if char == "\\":
            current.append(char)
            current.append(next(chars, ""))
        elif char == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def split_structured(raw: str) -> list[str]:
    """The components of a structured value (N, ADR, ORG), unescaped; multiple values inside
    one component (separated by unescaped commas) are joined with ``", "``."""
    if "\\" not in raw:
        return [", ".join(p for p in part.split(",") if p) if "," in part else part
                for part in raw.split(";")]
    return [", ".join(unescape_text(value) for value in _split_unescaped(part, ",") if value)
            for part in _split_unescaped(raw, ";")]


def split_list(raw: str) -> list[str]:
    """The values of a comma-separated TEXT list (CATEGORIES), unescaped."""
    return [unescape_text(value).strip() for value in _split_unescaped(raw, ",")
            if value.strip()]


def join_structured(components: list[str]) -> str:
    """The raw form of a structured value made of ``components``."""
    return ";".join(map(escape_text, components))


def fold(line: str) -> str:
    """``line`` folded to lines of at most 75 octets (never inside a UTF-8 sequence), with
    CRLF line ends."""
    if len(line) <= 75 and line.isascii():
        return line + "\r\n"
    encoded = line.encode()
    if len(encoded) <= 75:
        return line + "\r\n"
    pieces: list[str] = []
    start, limit = 0, 75
    while start < len(encoded):
        end = min(start + limit, len(encoded))
        while end < len(encoded) and (encoded[end] & 0xC0) == 0x80:
            end -= 1  # do not cut a multi-byte character
        pieces.append(encoded[start:end].decode())
        start, limit = end, 74  # continuation lines start with a space
    return "\r\n ".join(pieces) + "\r\n"


class ContentLine:
    """One property (see the module docstring). ``name`` is upper-case; ``params`` maps
    upper-case parameter names to their values (unquoted, in order).

    ``raw`` is the unfolded line as read (``None`` once the value changed); ``folded`` the
    line as read, folded as it was (without the final line end). The parameters of a line
    read from text are parsed when first asked for (they were checked while reading).
    """

    __slots__ = ("_params", "_types", "folded", "group", "name", "prefix", "raw", "value")

    def __init__(self, name: str, prefix: str, value: str,
                 params: dict[str, list[str]] | None = None, group: str | None = None,
                 raw: str | None = None, folded: str | None = None) -> None:
        self.name = name
        self.prefix = prefix
        self.value = value
        self._params = params
        self._types: frozenset[str] | None = None
        self.group = group
        self.raw = raw
        self.folded = folded

    @property
    def params(self) -> dict[str, list[str]]:
        if self._params is None:
            cut = self.prefix.find(";")
            self._params = _parse_params(self.prefix[cut:], "a content line") \
                if cut >= 0 else {}
        return self._params

    @params.setter
    def params(self, value: dict[str, list[str]]) -> None:
        self._params = value
        self._types = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ContentLine):
            return NotImplemented
        return (self.name, self.prefix, self.value, self.params, self.group, self.raw,
                self.folded) == (other.name, other.prefix, other.value, other.params,
                                 other.group, other.raw, other.folded)

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it was

    def __repr__(self) -> str:
        return (f"ContentLine(name={self.name!r}, prefix={self.prefix!r}, "
                f"value={self.value!r}, group={self.group!r})")

    @classmethod
    def make(cls, prefix: str, value: str) -> ContentLine:
        """A new line ``prefix:value`` (``prefix``: name and parameters, as written).

        Raises:
            MalformedRecord: ``prefix`` is not a property name with parameters.
        """
        line = _split_line(f"{prefix}:{value}", "a new line", 1)
        line.raw = None
        return line

    def types(self) -> frozenset[str]:
        """The lower-case TYPE values (``TYPE=work,voice`` and ``TYPE=work;TYPE=voice``
        alike; vCard 2.1 bare types such as ``TEL;CELL`` count as TYPE too)."""
        if self._types is None:
            found: set[str] = set()
            for value in self.params.get("TYPE", ()):
                found.update(part.strip().lower() for part in value.split(",")
                             if part.strip())
            self._types = frozenset(found)
        return self._types

    def param(self, name: str) -> str | None:
        values = self.params.get(name.upper())
        return values[0] if values else None

    def with_value(self, raw_value: str) -> None:
        """Change the raw value, keeping group, name and parameters."""
        if raw_value != self.value:
            self.value = raw_value
            self.raw = self.folded = None

    def render(self) -> str:
        """The folded text of the line with its CRLF: exactly as read when unchanged."""
        if self.folded is not None:
            return self.folded + "\r\n"
        return fold(self.raw if self.raw is not None else f"{self.prefix}:{self.value}")


def _parse_params(text: str, where: str) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    position = 0
    length = len(text)
    while position < length:
        if text[position] != ";":
            raise MalformedRecord(f"{where}: expected ';' before a parameter")
        position += 1
        equals = text.find("=", position)
        next_semicolon = text.find(";", position)
        if equals < 0 or (0 <= next_semicolon < equals):
            end = next_semicolon if next_semicolon >= 0 else length
            bare = text[position:end]
            if not bare:
                raise MalformedRecord(f"{where}: empty parameter")
            params.setdefault("TYPE", []).append(bare)  # vCard 2.1: TEL;CELL
            position = end
            continue
        name = text[position:equals].upper()
        if not name:
            raise MalformedRecord(f"{where}: parameter without a name")
        position = equals + 1
        values = params.setdefault(name, [])
        while True:
            if position < length and text[position] == '"':
                close = text.find('"', position + 1)
                if close < 0:
                    raise MalformedRecord(f"{where}: unterminated quoted parameter value")
                values.append(text[position + 1:close])
                position = close + 1
            else:
                end = position
                while end < length and text[end] not in ",;":
                    end += 1
                values.append(text[position:end])
                position = end
            if position < length and text[position] == ",":
                position += 1
                continue
            break
    return params


_HEAD = re.compile(r"(?:([A-Za-z0-9-]+)\.)?([A-Za-z0-9-]+)([;:])")
_VALUE = r'(?:"[^"]*"|[^,;"][^,;]*|)'
_WELL_FORMED_PARAMS = re.compile(rf"(?:;(?:[^;=]+={_VALUE}(?:,{_VALUE})*|[^;=]+))*")
"""Parameters :func:`_parse_params` accepts, as one pattern: lines that match are read
without parsing their parameters (they are parsed when asked for); the others go through
:func:`_parse_params`, which says what is wrong."""


def _split_line(line: str, source: str, number: int) -> ContentLine:
    """One unfolded line as a :class:`ContentLine` (``number`` counts unfolded lines).

    Raises:
        MalformedRecord: naming ``source``, the line and the problem.
    """
    head = _HEAD.match(line)
    if head is not None:
        end = head.end()
        if head.group(3) == ":":
            return ContentLine(head.group(2).upper(), line[:end - 1], line[end:], {},
                               head.group(1), line)
        colon = line.find(":", end)
        if colon > 0 and _WELL_FORMED_PARAMS.fullmatch(line, end - 1, colon) is not None \
                and '"' not in line[end:colon]:
            return ContentLine(head.group(2).upper(), line[:colon], line[colon + 1:], None,
                               head.group(1), line)
    return _split_line_checked(line, source, number)


def _split_line_checked(line: str, source: str, number: int) -> ContentLine:
    """:func:`_split_line` for the lines its fast path leaves: quoted parameter values,
    and every malformed line (this says what is wrong).

    Raises:
        MalformedRecord: naming ``source``, the line and the problem.
    """
    colon = line.find(":")
    semicolon = line.find(";")
    name_end = colon if semicolon < 0 or 0 <= colon < semicolon else semicolon
    if colon < 0:
        raise MalformedRecord(f"{source}: line {number}: no ':' between the property name "
                              f"and its value")
    match = _NAME.fullmatch(line, 0, name_end)
    if match is None:
        raise MalformedRecord(f"{source}: line {number}: no property name")
    params: dict[str, list[str]] = {}
    if name_end != colon:
        if '"' in line[:colon]:  # a colon inside a quoted parameter value ends nothing
            colon, quoted = -1, False
            for index in range(name_end, len(line)):
                char = line[index]
                if char == '"':
                    quoted = not quoted
                elif char == ":" and not quoted:
                    colon = index
                    break
            if colon < 0:
                raise MalformedRecord(f"{source}: line {number}: no ':' after the "
                                      f"parameters (an unterminated quote?)")
        params = _parse_params(line[name_end:colon], f"{source}: line {number}")
    return ContentLine(match.group(2).upper(), line[:colon], line[colon + 1:], params,
                       match.group(1), line)


_PLAIN_PARAM_VALUE = r'[^,;:"\n]*'
_PLAIN_LINE = re.compile(
    r'^(?:[A-Za-z0-9-]+\.)?([A-Za-z0-9-]+)'
    rf'((?:;(?:[^;=:"\n]+={_PLAIN_PARAM_VALUE}(?:,{_PLAIN_PARAM_VALUE})*|[^;=:"\n]+))*)'
    r':([^\n]*)$', re.MULTILINE)
"""One content line as :func:`_split_line` reads it without help (name, parameters without
quotes, value; the group is matched, not kept), over unfolded text whose lines end with
``\\n``: the parameters end at the first colon, as there, and match
:data:`_WELL_FORMED_PARAMS`."""

PlainLine = tuple[str, str, str]
"""A content line as :func:`scan_plain` gives it: the name as written, the parameters as
written (from the first ``;``, ``""`` for none) and the raw value."""


def scan_plain(text: str, kind: str) -> tuple[list[str], list[PlainLine]] | None:
    """The content lines of the one ``kind`` component (``VCARD``) of a *plain* ``text``,
    in one pass: their upper-case names, and the lines (see :data:`PlainLine`). ``None``
    when the text is not plain; then :func:`parse_item` is the one to read it (and to say
    what is wrong with it).

    Plain: the text starts with the line ``BEGIN:<kind>`` and ends with ``END:<kind>``
    (any case; line ends CRLF or LF, folded or not, a byte order mark and blank lines at
    the end allowed), no other line is called BEGIN or END, no line is blank, and every line
    is a content line whose parameters hold no quotes (what :func:`_split_line` reads
    without its slow path). For such a text the lines are exactly those :func:`parse_item`
    finds: this is the fast way to read a folder of 10,000 cards.
    """
    text = text.lstrip("\ufeff")
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        if "\r" in text:
            return None
    text = text.rstrip("\n")
    if "\n " in text or "\n\t" in text:
        text = text.replace("\n ", "").replace("\n\t", "")
    begin, end = f"BEGIN:{kind}\n", f"\nEND:{kind}"
    start, stop = len(begin), len(text) - len(end)
    if stop <= start or "\n\n" in text or text[:start].upper() != begin \
            or text[stop:].upper() != end:
        return None
    lines: list[PlainLine] = _PLAIN_LINE.findall(text, start, stop)
    if len(lines) != text.count("\n", start, stop) + 1:
        return None
    names = "\n".join([line[0] for line in lines]).upper().split("\n")
    if "BEGIN" in names or "END" in names:
        return None
    return names, lines


_TYPES_SEEN: dict[str, frozenset[str]] = {}
"""Parameters as written -> their TYPE values (a folder's cards repeat a few of them)."""


def plain_line(name: str, params: str, value: str) -> ContentLine:
    """A :class:`ContentLine` for a line :func:`scan_plain` found (its group is not kept),
    its TYPE values read from ``params`` at once, as :meth:`ContentLine.types` reads
    them."""
    line = ContentLine(name.upper(), name + params, value, None if params else {})
    types = _TYPES_SEEN.get(params)
    if types is None:
        found: set[str] = set()
        for param in params.split(";")[1:]:
            key, equals, text = param.partition("=")
            if not equals:
                text = param  # vCard 2.1: TEL;CELL
            elif key.upper() != "TYPE":
                continue
            found.update(part.strip().lower() for part in text.split(",") if part.strip())
        types = frozenset(found)
        if len(_TYPES_SEEN) < 512:
            _TYPES_SEEN[params] = types
    line._types = types
    return line


@dataclass(slots=True)
class Item:
    """One BEGIN/END component as content lines: ``kind`` (``VCARD``) and the lines between
    its BEGIN and END, nested components kept as plain lines."""

    kind: str
    lines: list[ContentLine]

    def find(self, name: str) -> Iterator[ContentLine]:
        """The lines of property ``name`` (upper-case), in order."""
        return (line for line in self.lines if line.name == name)

    def first(self, name: str) -> ContentLine | None:
        for line in self.lines:
            if line.name == name:
                return line
        return None

    def index(self) -> dict[str, list[ContentLine]]:
        """Property name -> its lines, in order (a snapshot: build it again after edits)."""
        found: dict[str, list[ContentLine]] = {}
        for line in self.lines:
            found.setdefault(line.name, []).append(line)
        return found

    def to_text(self) -> str:
        """The item's text: unchanged lines exactly as read, folded, CRLF line ends."""
        body = "".join(line.render() for line in self.lines)
        return f"BEGIN:{self.kind}\r\n{body}END:{self.kind}\r\n"


def parse_item(text: str, kind: str, *, source: str) -> Item:
    """Parse the one ``kind`` component (``VCARD``) ``text`` holds.

    Raises:
        MalformedRecord: naming ``source`` and the problem (no BEGIN/END, a line that is not
            a content line, more than one item, a bad parameter).
    """
    text = text.lstrip("\ufeff")
    pieces = text.split("\n")  # CRLF as RFC 6350 says; LF and a mix of both as found
    raw_lines: list[str] = []
    physical: list[str] = []  # the folded text of each logical line, as read
    if "\n " not in text and "\n\t" not in text:  # nothing folded: the lines as they are
        for piece in pieces:
            if piece.endswith("\r"):
                piece = piece[:-1]
            if piece and not piece.isspace():
                raw_lines.append(piece)
        physical = raw_lines
    else:
        for piece in pieces:
            if piece.endswith("\r"):
                piece = piece[:-1]
            if not piece:
                continue
            if piece[0] in " \t" and raw_lines:
                raw_lines[-1] += piece[1:]
                physical[-1] += "\r\n" + piece
            elif not piece.isspace():
                raw_lines.append(piece)
                physical.append(piece)
    begin = f"BEGIN:{kind}"
    end = f"END:{kind}"
    if not raw_lines or raw_lines[0].strip().upper() != begin:
        raise MalformedRecord(f"{source}: does not start with {begin}")
    lines: list[ContentLine] = []
    closed = False
    for number in range(1, len(raw_lines)):
        line = raw_lines[number]
        if closed:
            raise MalformedRecord(f"{source}: line {number + 1}: text after {end} "
                                  f"(one item per file)")
        if line[:4].upper() in ("END:", "BEGI"):
            upper = line.strip().upper()
            if upper == end:
                closed = True
                continue
            if upper == begin:
                raise MalformedRecord(f"{source}: line {number + 1}: {begin} inside an item")
        parsed = _split_line(line, source, number + 1)
        parsed.folded = physical[number]
        lines.append(parsed)
    if not closed:
        raise MalformedRecord(f"{source}: no {end}")
    return Item(kind, lines)
