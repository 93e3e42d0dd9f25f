"""What the sandboxes' small query parsers share: tokens and a cursor over them.

A *token* is one piece of a query text: its kind (the name of the regular-expression group
that matched it: ``string``, ``number``, ``name``...), its text and its 1-based column.
The QuickBooks query language (:mod:`syncline.sandbox.qbo.query`) and Xero's ``where``
filter (:mod:`syncline.sandbox.xero.where`) each bring their own token pattern and grammar.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Token", "TokenCursor", "tokenize"]


@dataclass(frozen=True, slots=True)
class Token:
    """One token (see the module docstring)."""

    kind: str
    text: str
    column: int

    @property
    def word(self) -> str:
        """The lower-case text of a ``name`` token (``""`` for any other kind)."""
        return self.text.lower() if self.kind == "name" else ""


def tokenize(pattern: re.Pattern[str], text: str, refuse: Callable[[int], Exception],
             end: str = "") -> list[Token]:
    """The tokens of ``text``: white space between them skipped, each matched by one named
    group of ``pattern``, and a last token of kind ``end`` (text ``end``).

    Raises:
        Exception: ``refuse(column)`` where nothing in ``pattern`` matches.
    """
    found: list[Token] = []
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            break
        match = pattern.match(text, position)
        if match is None or match.lastgroup is None or match.end() == position:
            raise refuse(position + 1)
        found.append(Token(match.lastgroup, match.group(), position + 1))
        position = match.end()
    found.append(Token("end", end, len(text) + 1))
    return found


class TokenCursor:
    """A parser's place in its tokens."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.index = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]
