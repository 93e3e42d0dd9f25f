"""The one receipt protocol (``syncline.connectors.receipts``): receipt files read back what
was written (and what the connectors wrote before they shared it: a crash can fall across an
upgrade), batch ids made safe file names, Xero's receipts kept as the same lines, and files
written atomically."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from syncline.connectors.base import WriteBatch, WriteKind, WriteOperation, WriteResult
from syncline.connectors.dav.state import CollectionState
from syncline.connectors.qbo.state import StateFolder as QboState
from syncline.connectors.receipts import (
    ReceiptFolder,
    ReceiptLine,
    atomic_write,
    batch_file_name,
    line_of_result,
    parse_receipt,
    result_of_line,
)
from syncline.connectors.vdir import VdirConnector
from syncline.connectors.vdir.state import digest
from syncline.connectors.xero.state import XeroState
from syncline.errors import ItemError, VersionConflict


def test_a_receipt_reads_back_what_was_written_whatever_its_fields_hold(tmp_path: Path) -> None:
    folder = ReceiptFolder(tmp_path)
    lines = [ReceiptLine("b-0", "create", "k\t1", "d1"),
             ReceiptLine("b-1", "update", "", error="bad\nvalue\r", error_type="ValidationFailed"),
             ReceiptLine("b-2", "delete", "k2")]
    folder.write("run 7/batch:2", lines)
    assert os.listdir(tmp_path) == ["run_7_batch_2"]
    assert folder.read("run 7/batch:2") == [
        ReceiptLine("b-0", "create", "k 1", "d1"),
        ReceiptLine("b-1", "update", "", error="bad value ", error_type="ValidationFailed"),
        ReceiptLine("b-2", "delete", "k2")]
    assert folder.read("never") is None


def test_batch_ids_become_safe_file_names() -> None:
    assert batch_file_name("a-b_C9") == "a-b_C9"
    assert batch_file_name("../x y:é") == "___x_y_é"  # letters of any script stay


def test_a_cut_short_line_is_left_out() -> None:
    assert parse_receipt("t\tcreate\tk\td\t\nt2\tupd") == [ReceiptLine("t", "create", "k", "d")]


OLD_VDIR_RECEIPT = "w-0\tupdate\t{key}\t{digest}\t\nw-1\tcreate\t\t\tcontact (new): bad date\n"
"""A receipt file as the vdir connector wrote it before the shared receipt module."""


def test_a_vdir_receipt_written_before_the_upgrade_is_recovered(tmp_path: Path) -> None:
    connector = VdirConnector("cards", {"path": "cards"}, tmp_path)
    connector.open()
    (tmp_path / "cards" / "anna.vcf").write_bytes(b"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:anna\r\n"
                                                  b"FN:Anna\r\nN:;Anna;;;\r\nEND:VCARD\r\n")
    written = digest((tmp_path / "cards" / "anna.vcf").read_bytes())
    (connector.state.path / "batches" / "old_batch").write_text(
        OLD_VDIR_RECEIPT.format(key="anna", digest=written), encoding="utf-8")
    batch = WriteBatch("old/batch", "contact", [
        WriteOperation("w-0", WriteKind.UPDATE, "anna", {"name": "Anna"}),
        WriteOperation("w-1", WriteKind.CREATE, None, {"name": "Bert"})])
    recovered = connector.recover(batch)
    assert recovered is not None
    assert recovered[0].ok and recovered[0].key == "anna"
    assert isinstance(recovered[1].error, ItemError)
    assert recovered[1].error.message == "contact (new): bad date"


def test_a_dav_receipt_written_before_the_upgrade_reads_back(tmp_path: Path) -> None:
    state = CollectionState(tmp_path / "collection")
    state.ensure()
    (state.path / "batches" / "b1").write_text('w-0\tupdate\tanna.vcf\t"etag-1"\t\n'
                                               "w-1\tdelete\tbert.vcf\t\t\n", encoding="utf-8")
    assert state.receipts.read("b1") == [ReceiptLine("w-0", "update", "anna.vcf", '"etag-1"'),
                                         ReceiptLine("w-1", "delete", "bert.vcf")]


def test_xero_keeps_its_receipts_as_receipt_lines_and_reads_the_older_form(
        tmp_path: Path) -> None:
    state = XeroState(tmp_path)
    try:
        results = [WriteResult("b-0", "inv-1", "1700000000000"),
                   WriteResult("b-1", error=VersionConflict("invoice INV-2 changed",
                                                            stream="invoice"))]
        lines = [line_of_result(result, kind) for result, kind
                 in zip(results, ("create", "update"), strict=True)]
        state.store_receipt("batch-1", lines)
        assert state.receipt("batch-1") == lines
        assert state.receipt("batch-2") is None
        # a receipt stored by the connector before the shared receipt line
        older = [{"token": "b-0", "key": "inv-1", "version": "17", "error": None},
                 {"token": "b-1", "key": None, "version": None,
                  "error": {"type": "VersionConflict", "message": "invoice INV-2 changed"}}]
        state.db.execute("INSERT INTO receipts VALUES (?, ?, ?)",
                         ("batch-0", json.dumps(older), 0.0))
        (done, refused) = (result_of_line(line, "invoice")
                           for line in state.receipt("batch-0") or [])
    finally:
        state.close()
    assert (done.token, done.key, done.version, done.error) == ("b-0", "inv-1", "17", None)
    assert (refused.key, refused.version) == (None, None)
    assert isinstance(refused.error, VersionConflict)
    assert refused.error.message == "invoice INV-2 changed"
    assert refused.error.stream == "invoice"
    back = result_of_line(lines[1], "invoice")
    assert isinstance(back.error, VersionConflict) and back.error.key is None
    with sqlite3.connect(tmp_path / "state.sqlite") as db:  # the file stays plain JSON
        stored = json.loads(db.execute("SELECT results FROM receipts WHERE batch_id = "
                                       "'batch-1'").fetchone()[0])
    assert stored[0]["token"] == "b-0" and stored[0]["kind"] == "create"


def test_an_unknown_error_type_comes_back_as_an_item_error() -> None:
    back = result_of_line(ReceiptLine("t", "create", "", error="odd", error_type="Nope"), "s")
    assert type(back.error) is ItemError and back.error.message == "odd"


def test_qbo_finds_a_receipt_written_before_the_upgrade(tmp_path: Path) -> None:
    state = QboState(tmp_path)
    state.write_receipt("b/1", {"stream": "invoice", "plan": [], "chunks": []})
    assert state.receipt("b/1") == {"stream": "invoice", "plan": [], "chunks": []}
    (receipt,) = (tmp_path / "batches").iterdir()
    assert receipt.name.endswith(".json") and len(receipt.stem) == 32  # the name it had


def test_an_atomic_write_replaces_whole_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    info = atomic_write(tmp_path, "f", b"one")
    atomic_write(tmp_path, "f", b"two, longer", durable=True)
    assert (tmp_path / "f").read_bytes() == b"two, longer"
    assert info.st_size == 3
    assert os.listdir(tmp_path) == ["f"]
    with pytest.raises(FileExistsError):
        atomic_write(tmp_path, "f", b"three", exclusive=True)
    assert os.listdir(tmp_path) == ["f"]
