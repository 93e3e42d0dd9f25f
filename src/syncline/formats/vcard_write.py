"""Writing vCards: canonical fields into an existing card (only the mapped lines change) and
new cards (see :mod:`syncline.formats.vcard` for the mapping and what a new card holds)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from syncline.formats.contentline import (
    ContentLine,
    Item,
    escape_text,
    fold,
    join_structured,
    split_list,
    split_structured,
    unescape_text,
)
from syncline.formats.vcard_read import (
    ADDRESS_FIELDS,
    CONTACT_FIELDS,
    ORGANISATION_FIELDS,
    VCard,
    card_fields,
    mobile_line,
    phone_line,
    phone_value,
)

__all__ = ["new_vcard", "new_vcard_text", "update_vcard"]


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
    if current is not None and text is not None and phone_value(current) == text:
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
        _set_phone(card, phone_line(list(card.find("TEL"))), "TEL;TYPE=work,voice" if modern
                   else "TEL;TYPE=WORK,VOICE", fields["phone"])
    if "notes" in given:
        _set_text(card, "NOTE", fields["notes"])
    address = {index: fields[name] for name, index in zip(ADDRESS_FIELDS, (2, 3, 4, 5, 6),
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
            _set_phone(card, mobile_line(list(card.find("TEL"))),
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
        (frozenset(ADDRESS_FIELDS), "ADR", "ADR;TYPE=WORK"), (frozenset({"notes"}), "NOTE", "NOTE"),
        (frozenset({"categories"}), "CATEGORIES", "CATEGORIES"),
    ],
    "organisation": [
        (frozenset(), "FN", "FN"), (frozenset({"name"}), "ORG", "ORG"),
        (frozenset({"email"}), "EMAIL", "EMAIL;TYPE=INTERNET"),
        (frozenset({"phone"}), "TEL", "TEL;TYPE=WORK,VOICE"),
        (frozenset(ADDRESS_FIELDS), "ADR", "ADR;TYPE=WORK"), (frozenset({"website"}), "URL", "URL"),
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
        ("ADR", "ADR;TYPE=WORK", ADDRESS_FIELDS), ("NOTE", "NOTE", ("notes",)),
        ("CATEGORIES", "CATEGORIES", ("categories",)),
    ],
    "organisation": [
        ("FN", "FN", ("name",)), ("ORG", "ORG", ("name",)),
        ("EMAIL", "EMAIL;TYPE=INTERNET", ("email",)),
        ("TEL", "TEL;TYPE=WORK,VOICE", ("phone",)), ("ADR", "ADR;TYPE=WORK", ADDRESS_FIELDS),
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
    mapped = CONTACT_FIELDS if stream == "contact" else ORGANISATION_FIELDS
    for name, value in given.items():
        if name in mapped:
            text = value.strip() or None if type(value) is str else _text_or_none(value)
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
            if not any(field in texts for field in ADDRESS_FIELDS):
                continue
            value = join_structured(["", "", *(texts.get(field, "") for field in ADDRESS_FIELDS)])
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
