"""How the ``vdir`` connector reads a folder for a first or full sync: the cursor parses
nothing, the full read parses page by page (so the engine writes while it reads), the
capabilities asked for in between parse everything first (to know every malformed file), and
each file is parsed once whichever way the reads go."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncline.connectors.base import Capability, ReadScope
from syncline.connectors.vdir import VdirConnector
from syncline.connectors.vdir.items import _NAMESPACE, Parsed, uid_for
from syncline.connectors.vdir.state import MALFORMED

BROKEN = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN Missing colon\r\nEND:VCARD\r\n"


def card(uid: str, name: str) -> str:
    first, _, last = name.partition(" ")
    return (f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{last};{first};;;\r\n"
            f"TEL;TYPE=CELL:+44 7700 9000{len(uid):02d}\r\nEND:VCARD\r\n")


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[VdirConnector]:
    connector = VdirConnector("folder", {"path": "contacts", "page_size": 5}, tmp_path)
    connector.open()
    for n in range(12):
        (connector.folder / f"card{n:02d}.vcf").write_text(card(f"card{n:02d}", f"Ada L{n}"))
    yield connector
    connector.close()


def count_parses(connector: VdirConnector) -> Counter[str]:
    """Count, per key, the files the connector's codec parses from now on."""
    seen: Counter[str] = Counter()
    real = connector.codec.read

    def read(text: str, source: str) -> Parsed | None:
        seen[Path(source).stem] += 1
        return real(text, source)

    connector.codec.read = read  # type: ignore[method-assign]
    return seen


def test_the_cursor_parses_nothing_and_the_full_read_parses_page_by_page(
        folder: VdirConnector) -> None:
    seen = count_parses(folder)
    assert folder.current_cursor("contact") is not None
    assert sum(seen.values()) == 0
    pages = folder.read_all("contact", ReadScope())
    first = next(pages)
    assert len(first) == 5 and sum(seen.values()) == 5  # the rest is not parsed yet
    rest = [record for page in pages for record in page]
    assert len(first) + len(rest) == 12
    assert set(seen) == {f"card{n:02d}" for n in range(12)} and set(seen.values()) == {1}
    assert first[0].fields["mobile"] == "+44 7700 900006"


def test_capabilities_asked_after_the_cursor_know_every_malformed_file(
        folder: VdirConnector) -> None:
    (folder.folder / "broken.vcf").write_text(BROKEN)
    seen = count_parses(folder)
    cursor = folder.current_cursor("contact")
    assert cursor is not None
    assert Capability.DETECT_DELETES not in folder.streams()["contact"]
    assert [error.key for error in folder.item_errors] == ["broken"]
    assert "broken.vcf" in str(folder.item_errors[0])
    current = folder.state.current()
    assert current is not None and current.entries["broken"] == MALFORMED
    parsed = sum(seen.values())
    assert parsed == 13
    records = [record for page in folder.read_all("contact", ReadScope()) for record in page]
    assert len(records) == 12 and sum(seen.values()) == parsed  # nothing parsed twice
    assert [error.key for error in folder.item_errors] == ["broken"]  # noted once

    folder.item_errors.clear()  # every later read reports it again until it is fixed
    feed = folder.read_changes("contact", cursor, ReadScope())
    assert [change for page in feed.pages for change in page] == []
    assert [error.key for error in folder.item_errors] == ["broken"]


def test_a_malformed_file_found_by_the_full_read_is_marked_in_the_snapshot(
        folder: VdirConnector) -> None:
    (folder.folder / "broken.vcf").write_text(BROKEN)
    cursor = folder.current_cursor("contact")
    assert cursor is not None
    assert len([r for page in folder.read_all("contact", ReadScope()) for r in page]) == 12
    assert [error.key for error in folder.item_errors] == ["broken"]
    current = folder.state.current()
    assert current is not None and current.entries["broken"] == MALFORMED
    assert Capability.DETECT_DELETES not in folder.streams()["contact"]


def test_a_file_added_between_the_count_and_the_cursor_is_not_lost(
        folder: VdirConnector) -> None:
    """The cursor takes the listing the count just took (a first sync lists once less);
    a file added in between is read by the full read, and again as new by the next
    incremental read: never lost."""
    assert folder.count("contact") == 12
    (folder.folder / "late.vcf").write_text(card("late", "Grace Hopper"))
    cursor = folder.current_cursor("contact")
    assert cursor is not None
    keys = {record.key for page in folder.read_all("contact", ReadScope()) for record in page}
    assert "late" in keys and len(keys) == 13
    feed = folder.read_changes("contact", cursor, ReadScope())
    changes = {change.key: change.record for page in feed.pages for change in page}
    assert set(changes) == {"late"}
    record = changes["late"]
    assert record is not None and record.fields["name"] == "Grace Hopper"


def test_a_file_removed_between_the_count_and_the_cursor_is_not_read(
        folder: VdirConnector) -> None:
    assert folder.count("contact") == 12
    (folder.folder / "card03.vcf").unlink()
    assert folder.current_cursor("contact") is not None
    keys = {record.key for page in folder.read_all("contact", ReadScope()) for record in page}
    assert "card03" not in keys and len(keys) == 11


@pytest.mark.parametrize("token", ["", "batch-1-0", "é€😀 token", "x" * 500])
def test_the_uid_of_a_create_is_the_uuid5_of_its_token(token: str) -> None:
    """Computed without a UUID object, it must stay what it was: a crashed create is
    recognised by it."""
    assert uid_for(token) == str(uuid.uuid5(_NAMESPACE, token))


def count_reads(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Count, per file name, the item files opened for reading from now on (``os.open``
    read-only, and ``Path.read_bytes``)."""
    import os

    seen: Counter[str] = Counter()
    real_open, real_read_bytes = os.open, Path.read_bytes

    def opened(path: object, flags: int, *args: object, **kwargs: object) -> int:
        if isinstance(path, str) and path.endswith(".vcf") and not flags & (
                os.O_WRONLY | os.O_RDWR):
            seen[Path(path).name] += 1
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    def read_bytes(self: Path) -> bytes:
        if self.suffix == ".vcf":
            seen[self.name] += 1
        return real_read_bytes(self)

    monkeypatch.setattr(os, "open", opened)
    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    return seen


@pytest.mark.parametrize("ask_capabilities", [True, False])
def test_a_first_sync_reads_each_new_file_once(
        folder: VdirConnector, monkeypatch: pytest.MonkeyPatch, ask_capabilities: bool) -> None:
    """Files modified just now get a digest in the cursor's snapshot, and are parsed by the
    full read: each is read once for both, whether or not the capabilities are asked for
    in between (the engine's order: count, cursor, capabilities, full read)."""
    seen = count_reads(monkeypatch)
    assert folder.count("contact") == 12
    cursor = folder.current_cursor("contact")
    assert cursor is not None
    snapshot = folder.state.find(cursor.removeprefix("snap:"))
    assert snapshot is not None and len(snapshot.digests) == 12  # all of them are recent
    if ask_capabilities:
        folder.streams()
    records = [record for page in folder.read_all("contact", ReadScope()) for record in page]
    assert len(records) == 12
    assert seen == Counter({f"card{n:02d}.vcf": 1 for n in range(12)})


def test_a_read_of_changes_reads_each_recent_file_once(
        folder: VdirConnector, monkeypatch: pytest.MonkeyPatch) -> None:
    """An incremental read that checks the digests of recent files (written near the last
    snapshot's moment) keeps their bytes for the new snapshot instead of reading them
    again."""
    cursor = folder.current_cursor("contact")
    assert cursor is not None
    (folder.folder / "card03.vcf").write_text(card("card03", "Ada Changed"))
    seen = count_reads(monkeypatch)
    feed = folder.read_changes("contact", cursor, ReadScope())
    assert [change.key for page in feed.pages for change in page] == ["card03"]
    after = folder.state.find(str(feed.cursor).removeprefix("snap:"))
    assert after is not None and len(after.digests) == 12
    assert seen == Counter({f"card{n:02d}.vcf": 1 for n in range(12)})
