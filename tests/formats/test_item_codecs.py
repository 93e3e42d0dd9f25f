"""The item codecs both text-keeping connectors use (:mod:`syncline.formats.item_codecs`)."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from syncline.connectors.dav import items as dav_items
from syncline.connectors.vdir import items as vdir_items
from syncline.formats.item_codecs import ICalendarItems, VCardItems, uid_from_token


@given(st.uuids(), st.text())
def test_token_uids_are_uuid5(namespace: uuid.UUID, token: str) -> None:
    assert uid_from_token(namespace, token) == str(uuid.uuid5(namespace, token))


def test_each_connector_keeps_its_own_token_namespace() -> None:
    """UIDs of items created before stay recognisable after a crash (recovery)."""
    token = "batch-7-3"
    assert dav_items.uid_for(token) == str(uuid.uuid5(
        uuid.UUID("0d7c2f3e-5a0b-4d8e-9f41-3c6b8e2a7d15"), token))
    assert vdir_items.uid_for(token) == str(uuid.uuid5(vdir_items._NAMESPACE, token))
    assert dav_items.resource_name(token, ".vcf") == f"{dav_items.uid_for(token)}.vcf"


JOURNAL = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//y//EN\r\nBEGIN:VJOURNAL\r\n"
           "UID:j1\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:notes\r\nEND:VJOURNAL\r\n"
           "END:VCALENDAR\r\n")


def test_a_journal_entry_belongs_to_no_calendar_stream() -> None:
    for stream in ("event", "task"):
        assert vdir_items.CalendarCodec(stream).read(JOURNAL, "j.ics") is None
        assert dav_items.CalendarCodec(stream).read(JOURNAL, "j.ics") is None


def test_new_cards_take_the_token_uid_and_calendars_their_own() -> None:
    uid, text = vdir_items.VCardCodec("contact").create({"name": "Ada Lovelace"}, "t-1")
    assert uid == vdir_items.uid_for("t-1") and f"UID:{uid}" in text
    assert VCardItems("contact").new_item({"name": "Ada"}, "u-9")[0] == "u-9"
    event = {"summary": "Review", "uid": "meeting-1",
             "start": "2026-12-07T10:00:00+00:00", "end": "2026-12-07T11:00:00+00:00"}
    uid, _ = vdir_items.CalendarCodec("event").create(event, "t-2")
    assert uid == "meeting-1"
    uid, _ = ICalendarItems("event").new_item({**event, "uid": None}, "u-3")
    assert uid == "u-3@syncline"
