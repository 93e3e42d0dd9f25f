"""Canonical values, content hashes, field tokens and stream order (``syncline.model``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncline.model import (
    ENTITY_TYPES,
    Record,
    RecordColumns,
    Side,
    canonical_text,
    canonical_value,
    column_hashes,
    content_hash,
    content_hashes,
    entity_type,
    field_token,
    stream_order,
)

finite_decimals = st.decimals(allow_nan=False, allow_infinity=False, places=4,
                              min_value=-10**9, max_value=10**9)


# -- canonical_value ---------------------------------------------------------------------------
@pytest.mark.parametrize(("left", "right"), [
    (Decimal("1.50"), Decimal("1.5")),
    (Decimal("2.00"), Decimal("2")),
    (Decimal("2.00"), 2),
    (Decimal("100"), Decimal("1E+2")),
    (2.0, 2),
    (1.5, Decimal("1.5")),
    ("", None),
    ([{"item": "x", "quantity": Decimal("1.0"), "note": ""}], [{"quantity": 1, "item": "x"}]),
])
def test_equal_values_canonicalise_alike(left: Any, right: Any) -> None:
    assert canonical_value(left) == canonical_value(right)
    assert field_token(left) == field_token(right)
    assert content_hash({"f": left}, ("f",)) == content_hash({"f": right}, ("f",))


@pytest.mark.parametrize(("left", "right"), [
    (Decimal("1.5"), Decimal("1.51")),
    ("Ann", "ann"),
    ("a", "a "),
    (True, 1),
    (False, 0),
    (False, None),
    (0, None),
    ("0", 0),
    (date(2024, 1, 2), datetime(2024, 1, 2, tzinfo=UTC)),
    ([{"item": "x"}], [{"item": "y"}]),
    ([{"item": "x"}, {"item": "y"}], [{"item": "y"}, {"item": "x"}]),
])
def test_different_values_stay_different(left: Any, right: Any) -> None:
    assert field_token(left) != field_token(right)
    assert content_hash({"f": left}, ("f",)) != content_hash({"f": right}, ("f",))


@given(finite_decimals)
def test_trailing_zeros_never_matter(value: Decimal) -> None:
    padded = value * Decimal("1.000")  # same number, three more digits of exponent
    assert str(padded) != str(value)
    assert canonical_value(padded) == canonical_value(value)
    assert field_token(padded) == field_token(value)


@given(finite_decimals, finite_decimals)
def test_decimal_tokens_equal_exactly_when_numbers_equal(left: Decimal, right: Decimal) -> None:
    assert (field_token(left) == field_token(right)) == (left == right)


def test_canonical_value_of_dates_and_datetimes_is_iso_text() -> None:
    assert canonical_value(date(2024, 3, 1)) == "2024-03-01"
    assert canonical_value(datetime(2024, 3, 1, 9, 30, tzinfo=UTC)) == "2024-03-01T09:30:00+00:00"


def test_same_instant_in_two_time_zones_is_the_same_value() -> None:
    """Two systems reporting one moment in different offsets must not differ: otherwise
    every run sees a change on both sides and the record ping-pongs forever."""
    utc = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
    local = utc.astimezone(timezone(timedelta(hours=2)))
    assert utc == local
    assert canonical_value(utc) == canonical_value(local)
    assert content_hash({"due": utc}, ("due",)) == content_hash({"due": local}, ("due",))


def test_lines_ignore_empty_items_and_key_order_but_not_line_order() -> None:
    first = {"item": "i1", "quantity": Decimal("2.0"), "description": None}
    second = {"description": "", "quantity": 2, "item": "i1"}
    assert canonical_value([first]) == canonical_value([second])
    assert canonical_value((first,)) == canonical_value([second])


# -- content_hash ------------------------------------------------------------------------------
def test_content_hash_is_twelve_bytes_and_stable() -> None:
    fields = {"name": "Ann", "email": "ann@example.com"}
    digest = content_hash(fields, ("email", "name"))
    assert isinstance(digest, bytes)
    assert len(digest) == 12
    assert digest == content_hash(dict(reversed(fields.items())), ("email", "name"))


def test_content_hash_covers_only_the_named_fields() -> None:
    names = ("email", "name")
    base = {"name": "Ann", "email": "ann@example.com"}
    assert content_hash({**base, "phone": "123"}, names) == content_hash(base, names)
    assert content_hash({**base, "name": "Bob"}, names) != content_hash(base, names)


def test_content_hash_missing_empty_and_none_are_alike() -> None:
    names = ("email", "name", "phone")
    base = {"name": "Ann", "email": "ann@example.com"}
    assert content_hash(base, names) == content_hash({**base, "phone": None}, names)
    assert content_hash(base, names) == content_hash({**base, "phone": ""}, names)


def test_content_hash_depends_on_the_order_of_names_not_of_fields() -> None:
    """The hash is of the values in the order of ``names``: both sides must pass the same
    (sorted) list, and then the order of the fields in the record is irrelevant."""
    fields = {"name": "Ann", "email": "ann@example.com"}
    assert content_hash(fields, ("email", "name")) != content_hash(fields, ("name", "email"))
    names = tuple(sorted(fields))
    assert content_hash(fields, names) == content_hash({"email": "ann@example.com",
                                                        "name": "Ann"}, names)


def test_content_hash_does_not_confuse_swapped_values() -> None:
    names = ("email", "name")
    assert content_hash({"name": "x", "email": "y"}, names) != \
        content_hash({"name": "y", "email": "x"}, names)


small_values = st.one_of(st.none(), st.text(alphabet="aA 1", max_size=2),
                         st.integers(-2, 2), st.decimals(places=1, min_value=-2, max_value=2))
field_dicts = st.dictionaries(st.sampled_from(["name", "email", "phone"]), small_values,
                              max_size=3)


@given(field_dicts, field_dicts)
def test_hash_equal_exactly_when_all_tokens_equal(left: dict[str, Any],
                                                  right: dict[str, Any]) -> None:
    names = ("email", "name", "phone")
    same_tokens = all(field_token(left.get(n)) == field_token(right.get(n)) for n in names)
    assert (content_hash(left, names) == content_hash(right, names)) == same_tokens


# -- field_token -------------------------------------------------------------------------------
def test_field_token_is_text() -> None:
    for value in (None, "", "x", 3, Decimal("1.50"), True, date(2024, 1, 1), [{"a": 1}]):
        assert isinstance(field_token(value), str)
    assert field_token(None) == field_token("")
    assert field_token("x") != field_token(None)


# -- stream_order and entity types ---------------------------------------------------------------
def test_stream_order_puts_referenced_streams_first() -> None:
    assert stream_order(["invoice", "contact"]) == ["contact", "invoice"]
    ordered = stream_order(["payment", "invoice", "item", "tax_rate", "contact", "organisation"])
    position = {name: index for index, name in enumerate(ordered)}
    assert sorted(ordered) == sorted(["payment", "invoice", "item", "tax_rate", "contact",
                                      "organisation"])
    for stream in ordered:
        for target in ENTITY_TYPES[stream].references().values():
            if target in position and target != stream:
                assert position[target] < position[stream], (target, stream)


def test_stream_order_keeps_independent_streams_in_given_order_and_adds_nothing() -> None:
    assert stream_order(["task", "tax_rate", "cost_code"]) == ["task", "tax_rate", "cost_code"]
    # invoice references item and tax_rate, but they are not asked for: not added
    assert stream_order(["invoice"]) == ["invoice"]
    assert stream_order(["contact", "contact", "invoice"]) == ["contact", "invoice"]


@given(st.lists(st.sampled_from(sorted(ENTITY_TYPES)), unique=True))
def test_stream_order_is_a_topological_permutation(streams: list[str]) -> None:
    ordered = stream_order(streams)
    assert sorted(ordered) == sorted(streams)
    position = {name: index for index, name in enumerate(ordered)}
    for stream in ordered:
        for target in ENTITY_TYPES[stream].references().values():
            if target in position and target != stream:
                assert position[target] < position[stream]


def test_entity_references_include_line_fields() -> None:
    refs = entity_type("invoice").references()
    assert refs["contact"] == "contact"
    assert refs["lines.item"] == "item"
    assert refs["lines.tax_rate"] == "tax_rate"
    assert "lines" not in refs
    with pytest.raises(KeyError):
        entity_type("no_such_stream")


def test_side_other() -> None:
    assert Side.A.other is Side.B
    assert Side.B.other is Side.A


field_values = st.one_of(
    st.none(), st.just(""), st.text(max_size=8), st.integers(), st.booleans(),
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
    st.datetimes(timezones=st.just(UTC)), st.lists(st.text(max_size=3), max_size=2))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["email", "name", "phone", "total"]),
                                field_values), max_size=6),
       st.lists(st.sampled_from(["email", "name", "phone", "total"]), unique=True,
                max_size=4))
def test_content_hashes_match_content_hash(field_maps: list[dict[str, Any]],
                                           names: list[str]) -> None:
    ordered = tuple(sorted(names))
    assert content_hashes(field_maps, ordered) == [
        content_hash(fields, ordered) for fields in field_maps]


plain_values = st.one_of(st.none(), st.just(""), st.text(max_size=8), st.integers())


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=3).flatmap(lambda width: st.lists(
    st.lists(st.one_of(plain_values, field_values), min_size=width, max_size=width),
    max_size=6)))
def test_column_hashes_match_content_hash(rows: list[list[Any]]) -> None:
    """Plain columns (text, integers, None: hashed without a step per record) and columns
    needing canonical values both give content_hash's digests."""
    width = len(rows[0]) if rows else 0
    names = tuple(f"f{index}" for index in range(width))
    columns = [[row[index] for row in rows] for index in range(width)]
    assert column_hashes(columns, len(rows)) == [
        content_hash(dict(zip(names, row, strict=True)), names) for row in rows]


# -- canonical text (issue 14, defect 8) ---------------------------------------------------------
def test_line_breaks_and_outer_whitespace_do_not_make_text_differ() -> None:
    crm = "Met at the Royal Society.\r\nPrefers letters.\r\n"
    card = "Met at the Royal Society.\nPrefers letters."
    assert canonical_text(crm) == card == canonical_value(crm) == canonical_value(card)
    assert canonical_value("Hollymeade\rWilmslow") == "Hollymeade\nWilmslow"
    assert canonical_value("\r\n\n") is None and canonical_text("\r") is None
    assert field_token(crm) == field_token(card) == field_token("\n" + card + "\r")
    names = ("email", "notes")
    for fields in ({"notes": crm}, {"notes": card}, {"notes": "\r\n" + card + "\r\n"}):
        assert content_hash(fields, names) == content_hash({"notes": card}, names)
        assert content_hashes([fields], names) == [content_hash({"notes": card}, names)]
        assert column_hashes([[None], [fields["notes"]]], 1) == [
            content_hash({"notes": card}, names)]
    # inner line breaks, spaces and the text itself still count
    assert canonical_value("a\n\nb") != canonical_value("a\nb")
    assert canonical_value(" a") == " a" and canonical_value("a \r\n") == "a "
    assert content_hash({"notes": "a b"}, names) != content_hash({"notes": "a  b"}, names)


line_texts = st.lists(st.one_of(st.none(), st.text(alphabet="a \r\n\t\x00", max_size=6)),
                      min_size=1, max_size=8)


@settings(max_examples=300, deadline=None)
@given(line_texts, line_texts)
def test_column_hashes_of_texts_with_line_breaks(first: list[str | None],
                                                 second: list[str | None]) -> None:
    """The one-pass check of a column (texts joined by NUL) never takes a text that is not
    canonical for one that is: every way of hashing gives the same digests."""
    count = min(len(first), len(second))
    columns = [first[:count], second[:count]]
    rows = [{"a": first[n], "b": second[n]} for n in range(count)]
    expected = [content_hash(row, ("a", "b")) for row in rows]
    assert column_hashes(columns, count) == expected
    assert content_hashes(rows, ("a", "b")) == expected
    assert expected == [content_hash({name: canonical_value(value) for name, value in
                                      row.items()}, ("a", "b")) for row in rows]


def test_record_columns_read_as_records() -> None:
    page = RecordColumns(["1", "2"], ("name", "email"), [("Ada", "Grace"), ("a@x", None)])
    assert len(page) == 2 and page.column("email") == ("a@x", None)
    assert page.column("phone") == [None, None]
    assert page.records() == [Record("1", {"name": "Ada", "email": "a@x"}),
                              Record("2", {"name": "Grace", "email": None})]
    assert RecordColumns(["7"], (), []).records() == [Record("7", {})]
