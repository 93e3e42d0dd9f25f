"""Per-stream directions (``[links.NAME.directions]``) and the owners of a document stream
with posting rules (:mod:`syncline.engine.owned_defaults`): the configuration checks, the
ownership worked out for a stream, and a run on memory endpoints where one stream goes one
way while the link goes both."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from syncline.config import LinkConfig, parse_config
from syncline.engine.owned_defaults import stream_ownership
from syncline.errors import ConfigError, UsageError
from syncline.model import BOOKS_STATE_FIELDS, Side
from syncline.plan_types import LinkDirection
from syncline.service.force import authoritative_side

from .syncharness import Harness

DOC_FIELDS = ["number", "contact", "date", "status", "total", "tax_total", "lines",
              "reference"]
BOOKS_READ_ONLY = frozenset({"total", "tax_total", *BOOKS_STATE_FIELDS})


def _raw(link: dict[str, Any], *, a_fields: list[str] | None = None) -> dict[str, Any]:
    def endpoint(fields: list[str]) -> dict[str, Any]:
        return {"connector": "memory", "streams": {"invoice": {"fields": fields},
                                                   "contact": {"fields": ["name", "email"]}}}

    return {"endpoints": {"crm": endpoint(a_fields or DOC_FIELDS),
                          "books": endpoint([*DOC_FIELDS, *sorted(BOOKS_STATE_FIELDS)])},
            "links": {"l": {"a": "crm", "b": "books", "streams": ["contact", "invoice"],
                            **link}}}


def _link(link: dict[str, Any]) -> LinkConfig:
    return parse_config(_raw(link), base_dir=Path(".")).link("l")


# -- configuration -------------------------------------------------------------------------
@pytest.mark.parametrize(("directions", "key", "text"), [
    ({"invoices": "a-to-b"}, "links.l.directions.invoices", "did you mean 'invoice'"),
    ({"invoice": "a-b"}, "links.l.directions.invoice", "'both', 'a-to-b' or 'b-to-a'"),
    ({"invoice": "a-to-bb"}, "links.l.directions.invoice", "did you mean 'a-to-b'"),
])
def test_directions_are_checked(directions: dict[str, str], key: str, text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(_raw({"directions": directions}), base_dir=Path("."))
    assert caught.value.key == key
    assert text in str(caught.value)


def test_a_streams_direction_overrides_the_links() -> None:
    link = _link({"direction": "both", "directions": {"invoice": "a-to-b"}})
    assert link.direction_of("invoice") is LinkDirection.A_TO_B
    assert link.direction_of("contact") is LinkDirection.BOTH
    assert _link({"direction": "b-to-a"}).direction_of("invoice") is LinkDirection.B_TO_A


def test_a_one_way_stream_is_forced_from_its_source_only() -> None:
    link = _link({"directions": {"invoice": "a-to-b"}})
    assert authoritative_side(link, None, ("invoice",)) is Side.A
    assert authoritative_side(link, Side.B, ("contact",)) is Side.B
    assert authoritative_side(link, None, ()) is Side.A
    with pytest.raises(UsageError) as caught:
        authoritative_side(link, Side.B, ("contact", "invoice"))
    assert str(caught.value) == ("stream invoice of the link only writes a-to-b: its records "
                                 "can be forced from a only, not from b")
    backwards = _link({"direction": "a-to-b", "directions": {"invoice": "b-to-a"}})
    assert authoritative_side(backwards, None, ("invoice",)) is Side.B
    assert authoritative_side(backwards, Side.B, ("invoice",)) is Side.B
    with pytest.raises(UsageError, match="the link only writes a-to-b"):
        authoritative_side(backwards, Side.B)


# -- the owners of a document stream with posting rules --------------------------------------
def _ownership(link: dict[str, Any], stream: str = "invoice") -> Any:
    shared = frozenset(DOC_FIELDS) | (BOOKS_STATE_FIELDS if stream == "invoice" else set())
    return stream_ownership("l", _link(link), stream, shared,
                            {Side.A: frozenset(), Side.B: BOOKS_READ_ONLY & shared})


def test_posting_rules_give_the_document_to_the_order_system_and_their_state_to_the_books(
        ) -> None:
    owners = _ownership({"rules": {"invoice": {"status_on_create": "AUTHORISED"}}})
    assert owners.owned[Side.A] == {"number", "contact", "date", "lines", "reference"}
    assert owners.owned[Side.B] == BOOKS_STATE_FIELDS
    assert owners.create_only == {"status", "total", "tax_total"}
    assert owners.not_synced == frozenset()
    assert owners.keeps_edits == {Side.B} and owners.creates_owned == {Side.A}


def test_configured_owners_win_over_the_defaults() -> None:
    owners = _ownership({"rules": {"invoice": {}},
                         "owners": {"invoice": {"a": ["status"], "b": ["reference"]}}})
    assert owners.owned[Side.A] == {"number", "contact", "date", "lines", "status"}
    assert owners.owned[Side.B] == BOOKS_STATE_FIELDS | {"reference"}
    assert owners.create_only == {"total", "tax_total"}


def test_without_rules_only_the_configured_and_read_only_owners_stand() -> None:
    owners = _ownership({})
    assert owners.owned[Side.A] == frozenset()
    assert owners.owned[Side.B] == BOOKS_READ_ONLY
    assert owners.create_only == frozenset() and owners.keeps_edits == frozenset()
    contact = stream_ownership("l", _link({"rules": {"contact": {"eligible": "true"}}}),
                               "contact", frozenset({"name", "email"}),
                               {Side.A: frozenset(), Side.B: frozenset()})
    assert contact.owned == {Side.A: frozenset(), Side.B: frozenset()}  # no document


# -- a run: one stream one way, the other both ways ----------------------------------------
HarnessFactory = Callable[..., Harness]


def test_a_one_way_stream_on_a_two_way_link(harness_factory: HarnessFactory) -> None:
    h = harness_factory(streams={"contact": ["email", "name", "phone"],
                                 "organisation": ["name", "phone"]},
                        match={"contact": ["email"], "organisation": ["name"]})
    raw = dict(h.config.raw)
    raw["links"] = {"l": {**raw["links"]["l"], "directions": {"organisation": "a-to-b"}}}
    h = replace(h, config=parse_config(raw, base_dir=h.config.base_dir))
    h.a.put("contact", "a1", {"email": "ann@example.com", "name": "Ann", "phone": "1"})
    h.a.put("organisation", "o1", {"name": "Acme", "phone": "10"})
    h.b.put("organisation", "p1", {"name": "Globex", "phone": "20"})
    h.sync()
    (contact_b,) = h.records("b", "contact")
    assert sorted(org["name"] for org in h.records("b", "organisation").values()) == [
        "Acme", "Globex"]
    assert [org["name"] for org in h.records("a", "organisation").values()] == ["Acme"]
    # the books edit both: the contact's change comes back, the organisation's is reverted
    h.b.put("contact", contact_b, {"email": "ann@example.com", "name": "Ann B", "phone": "1"})
    acme_b = next(key for key, org in h.records("b", "organisation").items()
                  if org["name"] == "Acme")
    h.b.put("organisation", acme_b, {"name": "Acme", "phone": "99"})
    h.sync()
    assert h.records("a", "contact")["a1"]["name"] == "Ann B"
    assert h.records("a", "organisation")["o1"]["phone"] == "10"
    assert h.records("b", "organisation")[acme_b]["phone"] == "10"
