"""The one-pass card reader (:func:`~syncline.formats.vcard.read_card`) reads exactly what the
general parser reads: the same canonical fields, UID and REV, the same kind of card, and the
same error (naming the file and the problem) for a malformed one.

The oracle is the general way, line by line: :func:`parse_vcard`, then :func:`card_fields`,
:func:`uid_of`, :func:`revision` and :func:`is_organisation`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from syncline.errors import MalformedRecord
from syncline.formats.contentline import fold, scan_plain
from syncline.formats.vcard import (
    card_fields,
    is_organisation,
    parse_vcard,
    read_card,
    revision,
    uid_of,
)
from syncline.formats.vcard_read import _plain_values

Outcome = tuple[str, Any]


def general(text: str, stream: str) -> Outcome:
    """What the general parser makes of ``text`` for ``stream``."""
    try:
        card = parse_vcard(text, source="dir/x.vcf")
    except MalformedRecord as error:
        return "error", str(error)
    if is_organisation(card) != (stream == "organisation"):
        return "other", None
    fields: tuple[dict[str, Any], str | None, datetime | None] = (
        card_fields(card, stream), uid_of(card), revision(card))
    return "read", fields


def fast(text: str, stream: str) -> Outcome:
    """What :func:`read_card` makes of it."""
    try:
        found = read_card(text, stream, source="dir/x.vcf")
    except MalformedRecord as error:
        return "error", str(error)
    return ("other", None) if found is None else ("read", found)


BENCH_CARD = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//syncline bench//EN\r\n"
    "UID:bench-000001-5c1e-4f7a-9b1d-000000007919\r\nFN:Grace Hopper\r\n"
    "N:Hopper;Grace;;;\r\nORG:Harbour Logistics;Sales\r\nTITLE:Chief Financial Officer\r\n"
    "EMAIL;TYPE=INTERNET,WORK:grace.hopper.1@example.com\r\n"
    "EMAIL;TYPE=INTERNET,HOME:grace.hopper.1@mail.example.org\r\n"
    "TEL;TYPE=WORK,VOICE:+44 20 7946 0031\r\nTEL;TYPE=CELL:+44 7700 900001\r\n"
    "ADR;TYPE=WORK:;;2 Station Road;Lyon;Auvergne-Rhône-Alpes;69002;France\r\n"
    "NOTE:Met at the trade fair in 2016. Prefers e-mail\\, mornings only.\\nRevision 0.\r\n"
    "REV:20240202T010100Z\r\nEND:VCARD\r\n")


def test_a_plain_card_takes_the_one_pass_way_and_reads_what_the_parser_reads() -> None:
    assert _plain_values(BENCH_CARD) is not None
    assert fast(BENCH_CARD, "contact") == general(BENCH_CARD, "contact")
    kind, (fields, uid, rev) = fast(BENCH_CARD, "contact")
    assert kind == "read" and uid == "bench-000001-5c1e-4f7a-9b1d-000000007919"
    assert fields["phone"] == "+44 20 7946 0031" and fields["mobile"] == "+44 7700 900001"
    assert fields["organisation"] == "Harbour Logistics" and fields["city"] == "Lyon"
    assert fields["notes"] == "Met at the trade fair in 2016. Prefers e-mail, mornings only.\n" \
                              "Revision 0."
    assert rev is not None and rev.isoformat() == "2024-02-02T01:01:00+00:00"


@pytest.mark.parametrize("text", [
    BENCH_CARD.replace("\r\n", "\n"),                              # LF line ends
    "\ufeff" + BENCH_CARD,                                         # a byte order mark
    BENCH_CARD + "\r\n\r\n",                                       # blank lines at the end
    "".join(fold(line) for line in BENCH_CARD.replace("NOTE:", "NOTE:" + "long " * 30)
            .split("\r\n")[:-1]),                                  # folded lines
    BENCH_CARD.replace("TEL;TYPE=CELL", "item2.TEL;type=cell").lower().replace(
        "begin:vcard", "BEGIN:vcard"),                             # groups, lower case
])
def test_plain_variants_take_the_one_pass_way(text: str) -> None:
    assert scan_plain(text, "VCARD") is not None
    assert fast(text, "contact") == general(text, "contact")


@pytest.mark.parametrize("text", [
    BENCH_CARD.replace("TEL;TYPE=CELL", 'TEL;TYPE="cell"'),        # quoted parameter value
    BENCH_CARD.replace("\r\nTITLE", "\r\n\r\nTITLE"),              # a blank line inside
    BENCH_CARD.replace("END:VCARD", "END:VCARD\r\nBEGIN:VCARD\r\nEND:VCARD"),
    BENCH_CARD.replace("VERSION:3.0\r\n", ""),                     # no VERSION
    BENCH_CARD.replace("FN:Grace Hopper\r\nN:Hopper;Grace;;;\r\n", ""),
    BENCH_CARD.replace("TITLE:", "TITLE"),                         # no colon
    BENCH_CARD.replace("TITLE:", "TI TLE:"),                       # a bad name
    BENCH_CARD.replace("TEL;TYPE=CELL", "TEL;;TYPE=CELL"),         # an empty parameter
    BENCH_CARD.replace("END:VCARD\r\n", ""),                       # no END
    BENCH_CARD.replace("BEGIN:VCARD", "BEGIN:VCALENDAR"),
    BENCH_CARD.replace("\r\nEND:VCARD", "\r\nBEGIN:VEVENT\r\nEND:VEVENT\r\nEND:VCARD"),
    BENCH_CARD.replace("ORG:", "item1.END:x\r\nORG:"),
    BENCH_CARD.replace("\r\n", "\r"),                              # old Mac line ends
    BENCH_CARD.replace("TITLE:", "X-A\rB:1\r\nTITLE:"),            # a lone CR
    " " + BENCH_CARD,                                               # leading space
])
def test_other_texts_take_the_general_way_with_the_same_outcome(text: str) -> None:
    assert _plain_values(text) is None
    for stream in ("contact", "organisation"):
        assert fast(text, stream) == general(text, stream)


# -- random cards -------------------------------------------------------------------------
_NAMES = ["FN", "N", "EMAIL", "TEL", "ORG", "TITLE", "ADR", "NOTE", "CATEGORIES", "URL",
          "UID", "REV", "KIND", "X-ABShowAs", "VERSION", "PHOTO", "X-FOO", "fn", "tel", "Email",
          "item1.TEL", "item2.EMAIL", "TEL", "TEL", "CATEGORIES"]
_BAD_NAMES = ["BEGIN", "END", "a.b.c", "", "TI TLE", "END", "item1.END"]
_PARAMS = ["", "", ";TYPE=CELL", ";TYPE=work,voice", ";type=WORK;type=VOICE", ";CELL",
           ";PREF=1", ";TYPE=cell;PREF=1", ";TYPE=", ";TYPE=a=b", ";TYPE=fax",
           ";type=pager,cell", ";TYPE=,cell", "; type = cell", ";TYPE=textphone"]
_BAD_PARAMS = [';TYPE="cell"', ';X="a:b"', ";;", ";=x", ';TYPE="a"b']
_VALUES = ["", "x", "Ada", "Lovelace;Ada;;;", ";;1 Road;Leeds;;LS1;UK", "tel:+44-1", "+44 1",
           "a\\,b\\;c\\nd\\\\e", "org", "COMPANY", " Org ", "Acme\\, Inc.;Sales", "a,b,,c",
           "20240315T101500Z", "2024-03-15T10:15:00+0200", "20240315", "nonsense", "VCARD",
           "x:y:z", "Müller", "tab\there", "é" * 40, "urn:uuid:1"]


@st.composite
def _line(draw: st.DrawFn) -> str:
    bad = draw(st.integers(0, 40))
    name = draw(st.sampled_from(_BAD_NAMES if bad == 0 else _NAMES))
    params = draw(st.sampled_from(_BAD_PARAMS if bad == 1 else _PARAMS))
    return f"{name}{params}:{draw(st.sampled_from(_VALUES))}"


@st.composite
def cards(draw: st.DrawFn) -> str:
    """Mostly well-formed cards with awkward lines; some malformed, some folded, some with LF
    or mixed line ends, blank lines, a byte order mark."""
    lines = ["BEGIN:VCARD"]
    if draw(st.integers(0, 7)):
        lines.append("VERSION:" + draw(st.sampled_from(["3.0", "4.0"])))
    lines += draw(st.lists(_line(), max_size=12))
    if draw(st.integers(0, 4)):
        lines.insert(draw(st.integers(1, len(lines))), draw(st.sampled_from(["FN:A B", "N:B;A"])))
    if draw(st.integers(0, 5)):
        lines.append(draw(st.sampled_from(["END:VCARD", "end:vcard", "END:VCARD"])))
    else:
        lines += draw(st.sampled_from([[], ["END:VCARD", ""], ["END:VCARD", "BEGIN:VCARD"],
                                       ["END:VCARD "]]))
    if draw(st.booleans()):
        lines = [fold(line).rstrip("\r\n") for line in lines]
    ending = draw(st.sampled_from(["\r\n", "\n", "\r\n", "\r\n"]))
    text = ending.join(lines) + draw(st.sampled_from([ending, "", ending * 2, "\n \n"]))
    if not draw(st.integers(0, 5)):  # mixed line ends, stray blanks
        text = text.replace("\r\n", draw(st.sampled_from(["\n", "\r\n\r\n", "\r\n \r\n"])), 1)
    return draw(st.sampled_from(["", "", "\ufeff"])) + text


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cards(), st.sampled_from(["contact", "organisation"]))
@example(BENCH_CARD, "contact")
def test_the_one_pass_reader_reads_what_the_general_parser_reads(text: str,
                                                                  stream: str) -> None:
    assert fast(text, stream) == general(text, stream)


def test_random_cards_do_take_the_one_pass_way() -> None:
    """The comparison above means something only if many random cards are plain."""
    plain = 0

    @settings(max_examples=300, deadline=None, database=None)
    @given(cards())
    def count(text: str) -> None:
        nonlocal plain
        plain += _plain_values(text) is not None

    count()
    assert plain >= 30
