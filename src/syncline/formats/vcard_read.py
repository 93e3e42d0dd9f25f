"""Reading vCards: parsing, and the canonical fields of a parsed card (see
:mod:`syncline.formats.vcard` for the mapping).

Two ways lead to the same fields. :func:`parse_vcard` builds every content line (what an
update needs: it writes the card back). :func:`read_card`, what a read of many cards takes,
goes through the text once (:func:`~syncline.formats.contentline.scan_plain`) and keeps only
the raw values it maps; a card that is not plain (quoted parameters, odd line ends, nested
components, anything malformed) goes the general way, which also says what is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from syncline.errors import MalformedRecord
from syncline.formats.contentline import (
    ContentLine,
    Item,
    parse_item,
    plain_line,
    scan_plain,
    split_list,
    split_structured,
    unescape_text,
)

__all__ = [
    "ADDRESS_FIELDS",
    "CONTACT_FIELDS",
    "ORGANISATION_FIELDS",
    "VCard",
    "card_fields",
    "is_organisation",
    "mobile_line",
    "parse_vcard",
    "phone_line",
    "phone_value",
    "read_card",
    "revision",
    "uid_of",
]

ADDRESS_FIELDS = ("street", "city", "region", "postcode", "country")
"""The canonical address fields, in the order of their ADR components (2...6)."""
CONTACT_FIELDS = frozenset({"name", "first_name", "last_name", "email", "phone", "mobile",
                            "organisation", "title", *ADDRESS_FIELDS, "notes", "categories"})
"""The canonical contact fields a vCard maps."""
ORGANISATION_FIELDS = frozenset({"name", "email", "phone", "website", *ADDRESS_FIELDS,
                                 "notes"})
"""The canonical organisation fields a vCard maps."""

VCard = Item
"""A parsed vCard: its content lines (see :class:`~syncline.formats.contentline.Item`)."""


def parse_vcard(text: str, *, source: str) -> VCard:
    """Parse the one vCard ``text`` holds.

    Raises:
        MalformedRecord: naming ``source`` and the problem; also when VERSION or FN (required
            by RFC 6350) is missing.
    """
    card = parse_item(text, "VCARD", source=source)
    if card.first("VERSION") is None:
        raise MalformedRecord(f"{source}: no VERSION property")
    if card.first("FN") is None and card.first("N") is None:
        raise MalformedRecord(f"{source}: neither FN nor N (a vCard needs a name)")
    return card


def is_organisation(card: VCard) -> bool:
    """Whether the card describes an organisation (see :mod:`syncline.formats.vcard`)."""
    kind = card.first("KIND")
    shown = card.first("X-ABSHOWAS")
    return _is_organisation(kind.value if kind is not None else None,
                            shown.value if shown is not None else None)


def _is_organisation(kind: str | None, shown: str | None) -> bool:
    """:func:`is_organisation` from the raw values of the first KIND and X-ABShowAs."""
    return (kind is not None and kind.strip().lower() == "org") or (
        shown is not None and shown.strip().upper() == "COMPANY")


def uid_of(card: VCard) -> str | None:
    """The card's UID, or ``None``."""
    line = card.first("UID")
    return unescape_text(line.value).strip() or None if line is not None else None


def revision(card: VCard) -> datetime | None:
    """The time in REV (``20240315T101500Z``, ISO 8601 with dashes, or a date), or ``None``
    when absent or unreadable."""
    line = card.first("REV")
    return _timestamp(line.value) if line is not None else None


def _timestamp(value: str) -> datetime | None:
    text = value.strip().replace("-", "").replace(":", "")
    zone: timezone = UTC
    if text.endswith("Z"):
        text = text[:-1]
    elif len(text) > 15 and text[-5] in "+-" and text[-4:].isdigit():
        sign = -1 if text[-5] == "-" else 1
        zone = timezone(sign * timedelta(hours=int(text[-4:-2]), minutes=int(text[-2:])))
        text = text[:-5]
    try:
        if len(text) == 8:
            return datetime(int(text[:4]), int(text[4:6]), int(text[6:8]), tzinfo=zone)
        if len(text) >= 15 and text[8] == "T":
            return datetime(int(text[:4]), int(text[4:6]), int(text[6:8]), int(text[9:11]),
                            int(text[11:13]), int(text[13:15]), tzinfo=zone)
    except ValueError:
        return None
    return None


# -- the mapped values of a card -----------------------------------------------------------
Values = Mapping[str, str]
"""Property name (upper-case) -> the raw value of the card's first line of that name."""


def _text(values: Values, name: str) -> str | None:
    value = values.get(name)
    return None if value is None else unescape_text(value).strip() or None


def phone_value(line: ContentLine) -> str:
    """The number of a TEL line (a ``tel:`` URI loses its scheme)."""
    value = unescape_text(line.value).strip()
    return value[4:] if value.lower().startswith("tel:") else value


_NOT_PHONE = {"cell", "fax", "pager", "textphone"}


def phone_line(lines: list[ContentLine]) -> ContentLine | None:
    """The TEL line mapped to ``phone``: the first that is not TYPE=cell, fax or pager,
    work / voice ones first."""
    candidates = [line for line in lines if not line.types() & _NOT_PHONE]
    for line in candidates:
        if line.types() & {"work", "voice"}:
            return line
    return candidates[0] if candidates else None


def mobile_line(lines: list[ContentLine]) -> ContentLine | None:
    """The TEL line mapped to ``mobile``: the first TYPE=cell."""
    return next((line for line in lines if "cell" in line.types()), None)


def _address(values: Values) -> dict[str, str | None]:
    raw = values.get("ADR")
    parts = split_structured(raw) if raw is not None else []
    parts += [""] * (7 - len(parts))
    return {name: parts[position].strip() or None
            for name, position in zip(ADDRESS_FIELDS, (2, 3, 4, 5, 6), strict=True)}


def _fields(values: Values, phones: list[ContentLine], categories: list[str],
            stream: str) -> dict[str, Any]:
    """The canonical fields of a card for ``stream``, from the raw values of its first
    lines, its TEL lines and the raw values of its CATEGORIES lines."""
    phone = phone_line(phones)
    org_value = values.get("ORG")
    org = split_structured(org_value)[0].strip() or None if org_value is not None else None
    common: dict[str, Any] = {
        "email": _text(values, "EMAIL"),
        "phone": phone_value(phone) or None if phone else None,
        "notes": _text(values, "NOTE"),
        **_address(values),
    }
    if stream == "organisation":
        return {"name": org or _text(values, "FN"), "website": _text(values, "URL"), **common}
    name_value = values.get("N")
    parts = split_structured(name_value) if name_value is not None else []
    parts += [""] * (2 - len(parts))
    mobile = mobile_line(phones)
    listed = [value for raw in categories for value in split_list(raw)]
    return {
        "name": _text(values, "FN"),
        "first_name": parts[1].strip() or None,
        "last_name": parts[0].strip() or None,
        "mobile": phone_value(mobile) or None if mobile else None,
        "organisation": org,
        "title": _text(values, "TITLE"),
        "categories": ", ".join(listed) or None,
        **common,
    }


def _card_values(card: VCard) -> tuple[dict[str, str], list[ContentLine], list[str]]:
    """What :func:`_fields` reads, from a parsed card."""
    index = card.index()
    return ({name: lines[0].value for name, lines in index.items()}, index.get("TEL", []),
            [line.value for line in index.get("CATEGORIES", ())])


def _plain_values(text: str) -> tuple[dict[str, str], list[ContentLine], list[str]] | None:
    """What :func:`_fields` reads, straight from the text of a plain card (see
    :func:`~syncline.formats.contentline.scan_plain`) that :func:`parse_vcard` accepts;
    ``None`` for any other text (then :func:`parse_vcard` reads it, or says what is
    wrong)."""
    found = scan_plain(text, "VCARD")
    if found is None:
        return None
    names, lines = found
    values = dict(zip(names[::-1], [line[2] for line in lines[::-1]], strict=True))
    if "VERSION" not in values or ("FN" not in values and "N" not in values):
        return None  # malformed: parse_vcard says why
    phones = [plain_line(*line) for name, line in zip(names, lines, strict=True)
              if name == "TEL"] if "TEL" in values else []
    categories = [line[2] for name, line in zip(names, lines, strict=True)
                  if name == "CATEGORIES"] if "CATEGORIES" in values else []
    return values, phones, categories


def card_fields(card: VCard, stream: str) -> dict[str, Any]:
    """The canonical fields of ``card`` for ``stream`` (``contact`` or ``organisation``);
    absent properties give ``None``.

    Raises:
        ValueError: ``stream`` is neither ``contact`` nor ``organisation``.
    """
    if stream not in ("contact", "organisation"):
        raise ValueError(f"a vCard holds no '{stream}'")
    return _fields(*_card_values(card), stream)


def read_card(text: str, stream: str, *, source: str) \
        -> tuple[dict[str, Any], str | None, datetime | None] | None:
    """Read the vCard ``text`` holds for ``stream`` in one pass: its canonical fields
    (:func:`card_fields`), UID (:func:`uid_of`) and REV (:func:`revision`), exactly as
    :func:`parse_vcard` and those functions read them; ``None`` when it is a card of the
    other kind (:func:`is_organisation`).

    Raises:
        MalformedRecord: as :func:`parse_vcard`.
        ValueError: ``stream`` is neither ``contact`` nor ``organisation``.
    """
    if stream not in ("contact", "organisation"):
        raise ValueError(f"a vCard holds no '{stream}'")
    found = _plain_values(text)
    values, phones, categories = found if found is not None else _card_values(
        parse_vcard(text, source=source))
    if _is_organisation(values.get("KIND"), values.get("X-ABSHOWAS")) \
            != (stream == "organisation"):
        return None
    uid, rev = values.get("UID"), values.get("REV")
    return (_fields(values, phones, categories, stream),
            unescape_text(uid).strip() or None if uid is not None else None,
            _timestamp(rev) if rev is not None else None)
