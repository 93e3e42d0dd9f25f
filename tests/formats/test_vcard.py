"""vCard 3.0 / 4.0 <-> canonical contact and organisation fields, and the content lines
under them: reading, writing, updates that keep everything unmapped, malformed cards."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from syncline.errors import MalformedRecord
from syncline.formats.contentline import fold, parse_item, split_structured
from syncline.formats.vcard import (
    card_fields,
    is_organisation,
    new_vcard,
    parse_vcard,
    revision,
    uid_of,
    update_vcard,
)

NOW = datetime(2024, 7, 1, 8, 0, tzinfo=UTC)

# An Apple Contacts style vCard 3.0: grouped properties with X-ABLabel, a folded PHOTO.
CARD_30 = (
    "BEGIN:VCARD\r\n"
    "VERSION:3.0\r\n"
    "PRODID:-//Apple Inc.//macOS 14.4//EN\r\n"
    "N:Bennett;Oliver;James;Mr;\r\n"
    "FN:Oliver Bennett\r\n"
    "ORG:Bennett & Sons Plumbing Ltd;Accounts\r\n"
    "TITLE:Finance Director\r\n"
    "item1.EMAIL;type=INTERNET;type=WORK;type=pref:oliver@bennett-plumbing.co.uk\r\n"
    "item1.X-ABLabel:_$!<Work>!$_\r\n"
    "EMAIL;type=INTERNET;type=HOME:olly.bennett@example.org\r\n"
    "TEL;type=CELL;type=VOICE;type=pref:+44 7700 900461\r\n"
    "TEL;type=WORK;type=VOICE:+44 161 496 0732\r\n"
    "TEL;type=WORK;type=FAX:+44 161 496 0733\r\n"
    "ADR;type=WORK;type=pref:;;Unit 4\\, Trafford Park;Manchester;Greater Manchester;M1"
    "7 1AB;United Kingdom\r\n"
    "NOTE:Pays on the 28th.\\nAsk for the accounts office; not reception.\r\n"
    "CATEGORIES:Supplier,Trade\r\n"
    "X-SOCIALPROFILE;type=linkedin:https://www.linkedin.com/in/oliver-bennett\r\n"
    "PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDA\r\n"
    " sLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/wAALCAABAAEBAREA\r\n"
    "REV:2024-03-15T10:15:00Z\r\n"
    "UID:8D4B3F0E-5C8B-4C0E-9F6B-2E9C3A1D7B42\r\n"
    "END:VCARD\r\n"
)

CARD_40 = (
    "BEGIN:VCARD\r\n"
    "VERSION:4.0\r\n"
    "UID:urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1\r\n"
    "KIND:individual\r\n"
    "FN:Margaret Ellen Hughes\r\n"
    "N:Hughes;Margaret;Ellen;Dr.;\r\n"
    "ORG:Hughes & Partners Ltd;Sales\r\n"
    "TITLE:Head of Sales\r\n"
    "EMAIL;TYPE=work;PREF=1:margaret.hughes@hughes-partners.co.uk\r\n"
    "TEL;VALUE=uri;TYPE=\"voice,work\":tel:+44-20-7946-0958\r\n"
    "TEL;VALUE=uri;TYPE=cell:tel:+44-7700-900123\r\n"
    "ADR;TYPE=work;LABEL=\"12 Fleet Street\\nLondon EC4Y 1AA\":;;12 Fleet Street;London;;"
    "EC4Y 1AA;United Kingdom\r\n"
    "X-SKYPE:maggie.hughes\r\n"
    "BDAY:--0412\r\n"
    "REV:20240315T101500Z\r\n"
    "END:VCARD\r\n"
)

ORG_40 = (
    "BEGIN:VCARD\r\nVERSION:4.0\r\nKIND:org\r\nFN:Hughes & Partners Ltd\r\n"
    "ORG:Hughes & Partners Ltd\r\nEMAIL:office@hughes-partners.co.uk\r\n"
    "TEL;TYPE=work:+44 20 7946 0000\r\nURL:https://hughes-partners.co.uk\r\n"
    "UID:urn:uuid:0b9f8d1e-8f43-4a43-a1cc-5b1a3cb5f3f0\r\nEND:VCARD\r\n"
)


def test_vcard_30_sample() -> None:
    card = parse_vcard(CARD_30, source="oliver.vcf")
    assert not is_organisation(card)
    assert card_fields(card, "contact") == {
        "name": "Oliver Bennett", "first_name": "Oliver", "last_name": "Bennett",
        "email": "oliver@bennett-plumbing.co.uk", "phone": "+44 161 496 0732",
        "mobile": "+44 7700 900461", "organisation": "Bennett & Sons Plumbing Ltd",
        "title": "Finance Director", "street": "Unit 4, Trafford Park", "city": "Manchester",
        "region": "Greater Manchester", "postcode": "M17 1AB", "country": "United Kingdom",
        "notes": "Pays on the 28th.\nAsk for the accounts office; not reception.",
        "categories": "Supplier, Trade",
    }
    assert uid_of(card) == "8D4B3F0E-5C8B-4C0E-9F6B-2E9C3A1D7B42"
    assert revision(card) == datetime(2024, 3, 15, 10, 15, tzinfo=UTC)


def test_line_feeds_alone_or_mixed() -> None:
    expected = card_fields(parse_vcard(CARD_30, source="a.vcf"), "contact")
    only_lf = CARD_30.replace("\r\n", "\n")
    assert card_fields(parse_vcard(only_lf, source="b.vcf"), "contact") == expected
    mixed = only_lf.replace("END:VCARD", "X-EXTRA:1\r\nEND:VCARD")
    card = parse_vcard(mixed, source="c.vcf")
    assert card_fields(card, "contact") == expected
    assert card.first("X-EXTRA") is not None


def test_vcard_40_sample() -> None:
    card = parse_vcard(CARD_40, source="margaret.vcf")
    fields = card_fields(card, "contact")
    assert fields["phone"] == "+44-20-7946-0958"  # the tel: URI without its scheme
    assert fields["mobile"] == "+44-7700-900123"
    assert fields["region"] is None and fields["postcode"] == "EC4Y 1AA"
    assert fields["organisation"] == "Hughes & Partners Ltd"
    assert revision(card) == datetime(2024, 3, 15, 10, 15, tzinfo=UTC)


def test_organisation_card() -> None:
    card = parse_vcard(ORG_40, source="hp.vcf")
    assert is_organisation(card)
    assert card_fields(card, "organisation") == {
        "name": "Hughes & Partners Ltd", "website": "https://hughes-partners.co.uk",
        "email": "office@hughes-partners.co.uk", "phone": "+44 20 7946 0000", "notes": None,
        "street": None, "city": None, "region": None, "postcode": None, "country": None}
    made = parse_vcard(new_vcard("organisation", {"name": "Acme Widgets plc",
                                                  "city": "Bristol"}).to_text(), source="n")
    assert is_organisation(made)
    assert card_fields(made, "organisation")["name"] == "Acme Widgets plc"
    assert made.first("FN") is not None


def test_new_card_round_trip() -> None:
    fields = {"name": "Siobhán Ní Bhriain", "first_name": "Siobhán", "last_name": "Ní Bhriain",
              "email": "siobhan@ni-bhriain.ie", "phone": "+353 1 555 0142",
              "mobile": "+353 87 555 0199", "organisation": "Ní Bhriain, Walsh; Partners",
              "title": "Solicitor", "street": "3 Merrion Square", "city": "Dublin",
              "region": "Leinster", "postcode": "D02 XY45", "country": "Ireland",
              "notes": "Prefers calls before 10:00,\nnever on Fridays; thanks\\cheers",
              "categories": "Legal, VIP"}
    card = new_vcard("contact", fields, uid="c0ffee00-1234-4cde-9abc-0123456789ab", now=NOW)
    text = card.to_text()
    assert text.startswith("BEGIN:VCARD\r\nVERSION:3.0\r\n")
    assert "UID:c0ffee00-1234-4cde-9abc-0123456789ab\r\n" in text
    assert "REV:20240701T080000Z\r\n" in text
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    again = parse_vcard(text, source="siobhan.vcf")
    assert card_fields(again, "contact") == fields


def test_crlf_and_lone_cr_are_written_as_vcard_line_breaks() -> None:
    """vCard knows one line break, ``\\n``: a CRLF or a lone CR of a value is written as one
    (never a raw CR, which would end the content line) and read back as LF."""
    fields = {"name": "Alan Turing", "street": "Hollymeade\rAdlington Road",
              "notes": "Bletchley Park\r\n\r\nManchester\rWilmslow\nUK"}
    text = new_vcard("contact", fields, uid="u-1", now=NOW).to_text()
    lines = text.replace("\r\n ", "").split("\r\n")
    assert not any("\r" in line or "\n" in line for line in lines)
    assert "NOTE:Bletchley Park\\n\\nManchester\\nWilmslow\\nUK" in lines
    read = card_fields(parse_vcard(text, source="alan.vcf"), "contact")
    assert read["notes"] == "Bletchley Park\n\nManchester\nWilmslow\nUK"
    assert read["street"] == "Hollymeade\nAdlington Road"


def test_update_changes_only_mapped_lines() -> None:
    card = parse_vcard(CARD_30, source="oliver.vcf")
    update_vcard(card, "contact", {"email": "o.bennett@bennett-plumbing.co.uk",
                                   "phone": "+44 161 496 0999", "city": "Salford",
                                   "title": None, "name": "Oliver Bennett"}, now=NOW)
    text = card.to_text()
    before = CARD_30.replace("\r\n ", "").split("\r\n")
    after = text.replace("\r\n ", "").split("\r\n")
    assert [line for line in after if line not in before] == [
        "item1.EMAIL;type=INTERNET;type=WORK;type=pref:o.bennett@bennett-plumbing.co.uk",
        "TEL;type=WORK;type=VOICE:+44 161 496 0999",
        "ADR;type=WORK;type=pref:;;Unit 4\\, Trafford Park;Salford;Greater Manchester;M17 1AB"
        ";United Kingdom",
        "REV:20240701T080000Z",
    ]
    assert [line for line in before if line not in after] == [
        "TITLE:Finance Director",
        "item1.EMAIL;type=INTERNET;type=WORK;type=pref:oliver@bennett-plumbing.co.uk",
        "TEL;type=WORK;type=VOICE:+44 161 496 0732",
        "ADR;type=WORK;type=pref:;;Unit 4\\, Trafford Park;Manchester;Greater Manchester;M17 1AB"
        ";United Kingdom",
        "REV:2024-03-15T10:15:00Z",
    ]
    # every other line is there byte for byte, folded as it was (the PHOTO too)
    photo = CARD_30[CARD_30.index("PHOTO"):CARD_30.index("REV:")]
    assert photo in text
    assert text.index("item1.X-ABLabel") > text.index("item1.EMAIL")  # order kept
    assert card_fields(parse_vcard(text, source="x"), "contact")["city"] == "Salford"


def test_update_of_a_40_card_keeps_uris_and_parameters() -> None:
    card = parse_vcard(CARD_40, source="margaret.vcf")
    update_vcard(card, "contact", {"phone": "+44 20 7946 0111", "mobile": None,
                                   "categories": "Customer, Board", "last_name": "Hughes-Carter"},
                 now=NOW)
    text = card.to_text()
    assert 'TEL;VALUE=uri;TYPE="voice,work":tel:+44-20-7946-0111\r\n' in text
    assert "TYPE=cell" not in text
    assert "N:Hughes-Carter;Margaret;Ellen;Dr.;\r\n" in text  # other name parts kept
    assert "CATEGORIES:Customer,Board\r\n" in text
    assert "BDAY:--0412\r\nREV:20240701T080000Z\r\n" in text
    assert 'LABEL="12 Fleet Street\\nLondon EC4Y 1AA"' in text
    fields = card_fields(parse_vcard(text, source="x"), "contact")
    assert fields["mobile"] is None and fields["last_name"] == "Hughes-Carter"


def test_adding_a_property_a_card_lacks() -> None:
    card = parse_vcard(ORG_40, source="hp.vcf")
    update_vcard(card, "organisation", {"street": "1 Canada Square", "city": "London"},
                 now=NOW)
    assert "ADR;TYPE=work:;;1 Canada Square;London;;;\r\n" in card.to_text()


def test_vcard_21_style_bare_types() -> None:
    card = parse_vcard("BEGIN:VCARD\r\nVERSION:2.1\r\nN:Kowalski;Jan\r\nTEL;CELL:+48 601 234 567"
                       "\r\nTEL;WORK:+48 22 123 45 67\r\nEND:VCARD\r\n", source="jan.vcf")
    fields = card_fields(card, "contact")
    assert (fields["mobile"], fields["phone"]) == ("+48 601 234 567", "+48 22 123 45 67")
    assert fields["first_name"] == "Jan"


@pytest.mark.parametrize(("text", "problem"), [
    ("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", "does not start with BEGIN:VCARD"),
    ("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ann Smith\r\n", "no END:VCARD"),
    ("BEGIN:VCARD\r\nVERSION:3.0\r\nFN Ann Smith\r\nEND:VCARD\r\n", "line 3: no ':'"),
    ("BEGIN:VCARD\r\nVERSION:3.0\r\nFN;LANGUAGE=\"en:Ann\r\nEND:VCARD\r\n", "line 3"),
    ("BEGIN:VCARD\r\nFN:Ann Smith\r\nEND:VCARD\r\n", "no VERSION"),
    ("BEGIN:VCARD\r\nVERSION:4.0\r\nEMAIL:ann@example.com\r\nEND:VCARD\r\n", "needs a name"),
    ("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nEND:VCARD\r\nBEGIN:VCARD\r\nEND:VCARD\r\n",
     "one item per file"),
    ("", "does not start"),
])
def test_malformed_card_names_the_file_and_the_problem(text: str, problem: str) -> None:
    with pytest.raises(MalformedRecord) as raised:
        parse_vcard(text, source="/data/contacts/ann.vcf")
    assert str(raised.value).startswith("/data/contacts/ann.vcf: ")
    assert problem in str(raised.value)


def test_content_lines() -> None:
    item = parse_item('BEGIN:VCARD\nX-A;LABEL="a:b;c";TYPE=home,work:v:1\n longer\nEND:VCARD\n',
                      "VCARD", source="s")
    (line,) = item.lines
    assert (line.name, line.value) == ("X-A", "v:1longer")
    assert line.params == {"LABEL": ["a:b;c"], "TYPE": ["home", "work"]}
    assert line.types() == {"home", "work"}
    assert split_structured("a\\;b;c,d;") == ["a;b", "c, d", ""]
    folded = fold("NOTE:" + "é" * 60)
    assert all(len(part.encode()) <= 77 for part in folded.split("\r\n"))
    assert folded.replace("\r\n ", "").rstrip("\r\n") == "NOTE:" + "é" * 60
