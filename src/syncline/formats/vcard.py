"""vCard 3.0 / 4.0 items <-> canonical ``contact`` and ``organisation`` fields.

The mapping (the first property of a kind is the one mapped; others are kept as they are):

=================  ==========================================================================
vCard              canonical
=================  ==========================================================================
FN                 name
N                  last_name (family), first_name (given); other parts kept
EMAIL              email (the first)
TEL                phone (the first that is not TYPE=cell, fax or pager; work/voice first),
                   mobile (the first TYPE=cell); a ``tel:`` URI value loses its scheme
ORG                a person's ``organisation`` (the organisation's name, as text); the
                   ``name`` of an organisation card; organisation units are kept
TITLE              title
ADR                street, city, region, postcode, country (the first ADR); PO box and
                   extended address kept
NOTE               notes
CATEGORIES         categories (joined with ``", "``)
URL                website (organisations)
UID                the item's identity (not a canonical field: the file name derives from it)
REV                ``Record.updated_at``; set to the time of every write
=================  ==========================================================================

An *organisation card* is one with ``KIND:org`` (vCard 4.0) or ``X-ABShowAs:COMPANY`` (the
Apple vCard 3.0 convention); every other card is a person. New cards are written as vCard 3.0
(the version every contacts application reads); an organisation card also gets ``KIND:org``
and ``X-ABShowAs:COMPANY``.

Updating starts from the card's own text and changes only the lines of mapped properties
(see :mod:`syncline.formats.contentline`), so nothing syncline does not map is lost.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from syncline.errors import MalformedRecord
from syncline.formats.contentline import (
    ContentLine,
    Item,
    escape_text,
    fold,
    join_structured,
    parse_item,
    split_list,
    split_structured,
    unescape_text,
)

__all__ = [
    "CONTACT_FIELDS",
    "ORGANISATION_FIELDS",
    "VCard",
    "card_fields",
    "is_organisation",
    "new_vcard",
    "new_vcard_text",
    "parse_vcard",
    "read_card",
    "revision",
    "uid_of",
    "update_vcard",
]

_ADDRESS = ("street", "city", "region", "postcode", "country")
CONTACT_FIELDS = frozenset({"name", "first_name", "last_name", "email", "phone", "mobile",
                            "organisation", "title", *_ADDRESS, "notes", "categories"})
"""The canonical contact fields a vCard maps."""
ORGANISATION_FIELDS = frozenset({"name", "email", "phone", "website", *_ADDRESS, "notes"})
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
    """Whether the card describes an organisation (see the module docstring)."""
    kind = card.first("KIND")
    if kind is not None and kind.value.strip().lower() == "org":
        return True
    shown = card.first("X-ABSHOWAS")
    return shown is not None and shown.value.strip().upper() == "COMPANY"


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


# -- reading -------------------------------------------------------------------------------
Index = dict[str, list[ContentLine]]


def _text(index: Index, name: str) -> str | None:
    lines = index.get(name)
    if not lines:
        return None
    return unescape_text(lines[0].value).strip() or None


def _phone_value(line: ContentLine) -> str:
    value = unescape_text(line.value).strip()
    return value[4:] if value.lower().startswith("tel:") else value


_NOT_PHONE = {"cell", "fax", "pager", "textphone"}


def _phone_line(lines: list[ContentLine]) -> ContentLine | None:
    candidates = [line for line in lines if not line.types() & _NOT_PHONE]
    for line in candidates:
        if line.types() & {"work", "voice"}:
            return line
    return candidates[0] if candidates else None


def _mobile_line(lines: list[ContentLine]) -> ContentLine | None:
    return next((line for line in lines if "cell" in line.types()), None)


def _address(index: Index) -> dict[str, str | None]:
    lines = index.get("ADR")
    parts = split_structured(lines[0].value) if lines else []
    parts += [""] * (7 - len(parts))
    return {name: parts[position].strip() or None
            for name, position in zip(_ADDRESS, (2, 3, 4, 5, 6), strict=True)}


def card_fields(card: VCard, stream: str) -> dict[str, Any]:
    """The canonical fields of ``card`` for ``stream`` (``contact`` or ``organisation``);
    absent properties give ``None``.

    Raises:
        ValueError: ``stream`` is neither ``contact`` nor ``organisation``.
    """
    if stream not in ("contact", "organisation"):
        raise ValueError(f"a vCard holds no '{stream}'")
    return _index_fields(card.index(), stream)


def read_card(text: str, stream: str, *, source: str) \
        -> tuple[dict[str, Any], str | None, datetime | None] | None:
    """Parse the vCard ``text`` holds and read it for ``stream`` in one pass: its canonical
    fields (:func:`card_fields`), UID (:func:`uid_of`) and REV (:func:`revision`); ``None``
    when it is a card of the other kind (:func:`is_organisation`).

    Raises:
        MalformedRecord: as :func:`parse_vcard`.
        ValueError: ``stream`` is neither ``contact`` nor ``organisation``.
    """
    if stream not in ("contact", "organisation"):
        raise ValueError(f"a vCard holds no '{stream}'")
    index = parse_vcard(text, source=source).index()
    kind, shown = index.get("KIND"), index.get("X-ABSHOWAS")
    organisation = (kind is not None and kind[0].value.strip().lower() == "org") or (
        shown is not None and shown[0].value.strip().upper() == "COMPANY")
    if organisation != (stream == "organisation"):
        return None
    uid, rev = index.get("UID"), index.get("REV")
    return (_index_fields(index, stream),
            unescape_text(uid[0].value).strip() or None if uid is not None else None,
            _timestamp(rev[0].value) if rev is not None else None)


def _index_fields(index: Index, stream: str) -> dict[str, Any]:
    phones = index.get("TEL", [])
    phone_line = _phone_line(phones)
    org_lines = index.get("ORG")
    org = split_structured(org_lines[0].value)[0].strip() or None if org_lines else None
    common: dict[str, Any] = {
        "email": _text(index, "EMAIL"),
        "phone": _phone_value(phone_line) or None if phone_line else None,
        "notes": _text(index, "NOTE"),
        **_address(index),
    }
    if stream == "organisation":
        return {"name": org or _text(index, "FN"), "website": _text(index, "URL"), **common}
    name_lines = index.get("N")
    parts = split_structured(name_lines[0].value) if name_lines else []
    parts += [""] * (2 - len(parts))
    mobile_line = _mobile_line(phones)
    categories = [value for line in index.get("CATEGORIES", ())
                  for value in split_list(line.value)]
    return {
        "name": _text(index, "FN"),
        "first_name": parts[1].strip() or None,
        "last_name": parts[0].strip() or None,
        "mobile": _phone_value(mobile_line) or None if mobile_line else None,
        "organisation": org,
        "title": _text(index, "TITLE"),
        "categories": ", ".join(categories) or None,
        **common,
    }


# -- writing -------------------------------------------------------------------------------
def _version(card: VCard) -> str:
    line = card.first("VERSION")
    return line.value.strip() if line is not None else "3.0"


def _insert(card: VCard, line: ContentLine) -> None:
    """Insert ``line`` after the last line of the same property, else before REV / UID /
    the end of the card."""
    index = len(card.lines)
    for position, existing in enumerate(card.lines):
        if existing.name == line.name:
            index = position + 1
    if index == len(card.lines):
        for position, existing in enumerate(card.lines):
            if existing.name in ("REV", "UID", "END"):
                index = position
                break
    card.lines.insert(index, line)


def _set(card: VCard, current: ContentLine | None, name: str, prefix: str,
         raw: str | None) -> None:
    """Give property ``current`` the raw value ``raw``: change its value (keeping its
    parameters), add a line ``prefix:raw`` when there is none, remove it when ``raw`` is
    ``None``."""
    if raw is None:
        if current is not None:
            card.lines.remove(current)
        return
    if current is None:
        _insert(card, ContentLine.make(prefix, raw))
    else:
        current.with_value(raw)


def _text_or_none(value: Any) -> str | None:
    if value is None:
        return None
    text = value.isoformat() if isinstance(value, date | datetime) else str(value)
    return text.strip() or None


def _set_text(card: VCard, name: str, value: Any) -> None:
    text = _text_or_none(value)
    current = card.first(name)
    if current is not None and text is not None and unescape_text(current.value).strip() == text:
        return
    _set(card, current, name, name, escape_text(text) if text is not None else None)


def _set_phone(card: VCard, current: ContentLine | None, prefix: str, value: Any) -> None:
    text = _text_or_none(value)
    if current is not None and text is not None and _phone_value(current) == text:
        return
    raw: str | None
    if text is not None and current is not None \
            and current.value.strip().lower().startswith("tel:"):
        raw = "tel:" + text.replace(" ", "-")
    else:
        raw = escape_text(text) if text is not None else None
    _set(card, current, "TEL", prefix, raw)


def _set_structured(card: VCard, name: str, updates: Mapping[int, Any], size: int,
                    prefix: str) -> None:
    """Change components ``updates`` (index -> value) of the first ``name`` property,
    keeping the others; drop the property when every component ends up empty."""
    current = card.first(name)
    parts = split_structured(current.value) if current is not None else []
    parts += [""] * (size - len(parts))
    changed = False
    for index, value in updates.items():
        text = _text_or_none(value) or ""
        if parts[index].strip() != text:
            parts[index] = text
            changed = True
    if not changed and current is not None:
        return
    if not any(part.strip() for part in parts):
        if current is not None and name != "N":
            card.lines.remove(current)
            return
        if current is None:
            return
    _set(card, current, name, prefix, join_structured(parts))


def _set_categories(card: VCard, value: Any) -> None:
    text = _text_or_none(value)
    wanted = [part.strip() for part in (text or "").split(",") if part.strip()]
    lines = list(card.find("CATEGORIES"))
    current = [value for line in lines for value in split_list(line.value)]
    if current == wanted:
        return
    for line in lines[1:]:
        card.lines.remove(line)
    raw = ",".join(escape_text(part) for part in wanted) if wanted else None
    _set(card, lines[0] if lines else None, "CATEGORIES", "CATEGORIES", raw)


def _stamp(card: VCard, now: datetime) -> None:
    raw = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    _set(card, card.first("REV"), "REV", "REV", raw)


def update_vcard(card: VCard, stream: str, fields: Mapping[str, Any], *,
                 now: datetime | None = None) -> VCard:
    """Write canonical ``fields`` of ``stream`` into ``card`` in place and return it.

    Only the properties of the fields given change (``None`` removes a property); every
    other line, parameter and property stays as it was. REV is set to ``now``.

    Raises:
        ValueError: ``stream`` is neither ``contact`` nor ``organisation``.
    """
    if stream not in ("contact", "organisation"):
        raise ValueError(f"a vCard holds no '{stream}'")
    modern = _version(card).startswith("4")
    given = set(fields)
    if "email" in given:
        email = _text_or_none(fields["email"])
        if card.first("EMAIL") is not None or email is None:
            _set_text(card, "EMAIL", email)
        else:
            _set(card, None, "EMAIL", "EMAIL;TYPE=work" if modern else "EMAIL;TYPE=INTERNET",
                 escape_text(email))
    if "phone" in given:
        _set_phone(card, _phone_line(list(card.find("TEL"))), "TEL;TYPE=work,voice" if modern
                   else "TEL;TYPE=WORK,VOICE", fields["phone"])
    if "notes" in given:
        _set_text(card, "NOTE", fields["notes"])
    address = {index: fields[name] for name, index in zip(_ADDRESS, (2, 3, 4, 5, 6),
                                                          strict=True) if name in given}
    if address:
        _set_structured(card, "ADR", address, 7, "ADR;TYPE=work" if modern else "ADR;TYPE=WORK")
    if stream == "organisation":
        if "name" in given:
            _set_structured(card, "ORG", {0: fields["name"]}, 1, "ORG")
            _set_text(card, "FN", fields["name"])
        if "website" in given:
            _set_text(card, "URL", fields["website"])
    else:
        if "name" in given:
            _set_text(card, "FN", fields["name"])
        names = {index: fields[name] for name, index in (("last_name", 0), ("first_name", 1))
                 if name in given}
        if names:
            _set_structured(card, "N", names, 5, "N")
        if "mobile" in given:
            _set_phone(card, _mobile_line(list(card.find("TEL"))),
                       "TEL;TYPE=cell" if modern else "TEL;TYPE=CELL", fields["mobile"])
        if "organisation" in given:
            _set_structured(card, "ORG", {0: fields["organisation"]}, 1, "ORG")
        if "title" in given:
            _set_text(card, "TITLE", fields["title"])
        if "categories" in given:
            _set_categories(card, fields["categories"])
    if card.first("FN") is None:  # RFC 6350: FN is required
        fallback = card_fields(card, stream).get("name") or " ".join(
            str(part) for part in (fields.get("first_name"), fields.get("last_name")) if part)
        _set(card, None, "FN", "FN", escape_text(str(fallback or "")))
    _stamp(card, now or datetime.now(UTC))
    return card


def new_vcard(stream: str, fields: Mapping[str, Any], *, uid: str | None = None,
              now: datetime | None = None) -> VCard:
    """A new vCard 3.0 for ``stream`` holding ``fields`` (see the module docstring), with
    ``uid`` (a random ``urn:uuid:`` when not given).

    Raises:
        ValueError: ``stream`` is neither ``contact`` nor ``organisation``.
    """
    if stream not in ("contact", "organisation"):
        raise ValueError(f"a vCard holds no '{stream}'")
    given = {name: value for name, value in fields.items() if value not in (None, "")}
    lines = [ContentLine.make("VERSION", "3.0"),
             ContentLine.make("PRODID", "-//syncline//vdir//EN")]
    if stream == "organisation":
        lines += [ContentLine.make("KIND", "org"),
                  ContentLine.make("X-ABShowAs", "COMPANY")]
    # the properties in the usual order, empty: update_vcard fills them in
    present = set(given)
    for field_names, name, prefix in _NEW_CARD_ORDER[stream]:
        if name in ("N", "FN") or present & field_names:
            lines.append(ContentLine.make(prefix, ";;;;" if name == "N" else ""))
    lines.append(ContentLine.make("REV", ""))
    lines.append(ContentLine.make("UID", escape_text(uid or f"urn:uuid:{uuid.uuid4()}")))
    card = update_vcard(Item("VCARD", lines), stream, given, now=now)
    full_name = card.first("FN")
    if full_name is not None and not full_name.value:  # RFC 6350: FN is required
        fallback = " ".join(str(given[n]) for n in ("first_name", "last_name") if n in given)
        full_name.with_value(escape_text(fallback or str(
            given.get("email") or given.get("organisation") or "Unnamed")))
    return card


_NEW_CARD_ORDER: dict[str, list[tuple[frozenset[str], str, str]]] = {
    "contact": [
        (frozenset(), "N", "N"), (frozenset(), "FN", "FN"),
        (frozenset({"organisation"}), "ORG", "ORG"), (frozenset({"title"}), "TITLE", "TITLE"),
        (frozenset({"email"}), "EMAIL", "EMAIL;TYPE=INTERNET"),
        (frozenset({"phone"}), "TEL", "TEL;TYPE=WORK,VOICE"),
        (frozenset({"mobile"}), "TEL", "TEL;TYPE=CELL"),
        (frozenset(_ADDRESS), "ADR", "ADR;TYPE=WORK"), (frozenset({"notes"}), "NOTE", "NOTE"),
        (frozenset({"categories"}), "CATEGORIES", "CATEGORIES"),
    ],
    "organisation": [
        (frozenset(), "FN", "FN"), (frozenset({"name"}), "ORG", "ORG"),
        (frozenset({"email"}), "EMAIL", "EMAIL;TYPE=INTERNET"),
        (frozenset({"phone"}), "TEL", "TEL;TYPE=WORK,VOICE"),
        (frozenset(_ADDRESS), "ADR", "ADR;TYPE=WORK"), (frozenset({"website"}), "URL", "URL"),
        (frozenset({"notes"}), "NOTE", "NOTE"),
    ],
}


def new_vcard_text(stream: str, fields: Mapping[str, Any], *, uid: str,
                   now: datetime | None = None) -> str:
    """The text of :func:`new_vcard` (the same bytes), written directly for the usual case:
    creating thousands of cards must not cost a parse of each new line.

    Raises:
        ValueError: ``stream`` is neither ``contact`` nor ``organisation``.
    """
    if stream not in ("contact", "organisation"):
        raise ValueError(f"a vCard holds no '{stream}'")
    moment = now or datetime.now(UTC)
    text = _new_card_text(stream, fields, uid, moment)
    if text is None:  # a value that is blank once stripped, and the like: the general way
        return new_vcard(stream, fields, uid=uid, now=moment).to_text()
    return text


_NEW_CARD_LINES: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {
    "contact": [
        ("N", "N", ("last_name", "first_name")), ("FN", "FN", ("name",)),
        ("ORG", "ORG", ("organisation",)), ("TITLE", "TITLE", ("title",)),
        ("EMAIL", "EMAIL;TYPE=INTERNET", ("email",)),
        ("TEL", "TEL;TYPE=WORK,VOICE", ("phone",)), ("TEL", "TEL;TYPE=CELL", ("mobile",)),
        ("ADR", "ADR;TYPE=WORK", _ADDRESS), ("NOTE", "NOTE", ("notes",)),
        ("CATEGORIES", "CATEGORIES", ("categories",)),
    ],
    "organisation": [
        ("FN", "FN", ("name",)), ("ORG", "ORG", ("name",)),
        ("EMAIL", "EMAIL;TYPE=INTERNET", ("email",)),
        ("TEL", "TEL;TYPE=WORK,VOICE", ("phone",)), ("ADR", "ADR;TYPE=WORK", _ADDRESS),
        ("URL", "URL", ("website",)), ("NOTE", "NOTE", ("notes",)),
    ],
}
"""The lines of a new card, in :data:`_NEW_CARD_ORDER`'s order: property, prefix, and the
canonical fields that fill it."""

_HEADS = {"contact": "BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//syncline//vdir//EN\r\n",
          "organisation": "BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//syncline//vdir//EN\r\n"
                          "KIND:org\r\nX-ABShowAs:COMPANY\r\n"}


def _new_card_text(stream: str, fields: Mapping[str, Any], uid: str,
                   now: datetime) -> str | None:
    """What :func:`new_vcard` writes, or ``None`` when a given value is blank once stripped
    (or CATEGORIES would be empty): those cases take the general way."""
    given = {name: value for name, value in fields.items() if value not in (None, "")}
    texts: dict[str, str] = {}
    for name in CONTACT_FIELDS if stream == "contact" else ORGANISATION_FIELDS:
        if name in given:
            text = _text_or_none(given[name])
            if text is None:
                return None
            texts[name] = text
    categories = texts.get("categories")
    if categories is not None:
        wanted = [part.strip() for part in categories.split(",") if part.strip()]
        if not wanted:
            return None
        texts["categories"] = ",".join(escape_text(part) for part in wanted)
    parts = [_HEADS[stream]]
    for name, prefix, field_names in _NEW_CARD_LINES[stream]:
        if name == "N":
            value = join_structured([texts.get("last_name", ""), texts.get("first_name", ""),
                                     "", "", ""])
        elif name == "FN":
            if "name" in texts:
                value = escape_text(texts["name"])
            else:
                fallback = " ".join(str(given[n]) for n in ("first_name", "last_name")
                                    if n in given)
                value = escape_text(fallback or str(
                    given.get("email") or given.get("organisation") or "Unnamed"))
        elif name == "ADR":
            if not any(field in texts for field in _ADDRESS):
                continue
            value = join_structured(["", "", *(texts.get(field, "") for field in _ADDRESS)])
        else:
            text = texts.get(field_names[0])
            if text is None:
                continue
            if name == "ORG":
                value = join_structured([text])
            elif name == "CATEGORIES":
                value = text
            else:
                value = escape_text(text)
        parts.append(fold(f"{prefix}:{value}"))
    parts.append(f"REV:{now.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}\r\n")
    parts.append(fold(f"UID:{escape_text(uid)}"))
    parts.append("END:VCARD\r\n")
    return "".join(parts)
