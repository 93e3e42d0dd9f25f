"""Crash-recovery receipts and atomic file writes, shared by the connectors.

Terms:

receipt
    What a connector writes about a write batch **before** its first operation touches the
    remote system: one :class:`ReceiptLine` per operation. After a crash,
    :meth:`~syncline.connectors.base.Connector.recover` reads it back and compares it with
    what the system holds, to tell which operations were applied without applying any twice.
receipt line
    One operation of a batch: its ``token``, ``kind`` (``create``, ``update``, ``delete``),
    the ``key`` it writes (``""``: none), the ``evidence`` that tells afterwards whether it
    was applied (``""``: none; what it holds is the connector's to say: vdir the digest of
    the bytes written, DAV the ETag the item had before, Xero the version written) and the
    ``error`` (with its ``error_type``, an :mod:`syncline.errors` class name) that kept it
    from being tried or that it ended with.
receipt file
    A folder's file ``<batch file name>`` holding a receipt as text: one line per operation,
    its fields separated by tabs (no field holds a tab or a line break: they are replaced by
    spaces). Lines with five fields (no ``error_type``) are the format written before the
    sixth field existed, and are read as well.
batch file name
    A batch id with every character other than letters, digits, ``-`` and ``_`` replaced by
    ``_`` (:func:`batch_file_name`).
atomic write
    A file written whole or not at all (:func:`atomic_write`): a temporary file in the same
    folder, then a rename (or a hard link, never overwriting).

A connector that keeps its receipts elsewhere (Xero: in SQLite) stores and returns the same
:class:`ReceiptLine` values (:func:`line_to_json`, :func:`line_from_json`).
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syncline import errors
from syncline.connectors.base import WriteResult
from syncline.errors import ItemError

__all__ = [
    "ReceiptFolder",
    "ReceiptLine",
    "atomic_write",
    "batch_file_name",
    "format_receipt",
    "line_from_json",
    "line_of_result",
    "line_to_json",
    "parse_receipt",
    "result_of_line",
]

TEMP_PREFIX = ".syncline-"
"""Temporary files are hidden (a vdir's scan and every state folder's listing skip them)."""


@dataclass(frozen=True, slots=True)
class ReceiptLine:
    """One operation of a batch (see the module docstring)."""

    token: str
    kind: str
    key: str
    evidence: str = ""
    error: str = ""
    error_type: str = ""


def batch_file_name(batch_id: str) -> str:
    """The file name of ``batch_id``'s receipt (see the module docstring)."""
    return "".join(char if char.isalnum() or char in "-_" else "_" for char in batch_id)


def _clean(text: str) -> str:
    return text.replace("\t", " ").replace("\n", " ").replace("\r", " ")


def format_receipt(lines: Sequence[ReceiptLine]) -> str:
    """The text of a receipt file holding ``lines``."""
    return "".join("\t".join((_clean(line.token), line.kind, _clean(line.key),
                              _clean(line.evidence), _clean(line.error),
                              *((_clean(line.error_type),) if line.error_type else ())))
                   + "\n" for line in lines)


def parse_receipt(text: str) -> list[ReceiptLine]:
    """The lines of a receipt file's ``text``; a line with neither five nor six fields (a
    file cut short) is left out, so its operation counts as not in the receipt."""
    lines: list[ReceiptLine] = []
    for row in text.splitlines():
        parts = row.split("\t")
        if len(parts) in (5, 6):
            lines.append(ReceiptLine(*parts))
    return lines


def line_to_json(line: ReceiptLine) -> dict[str, str]:
    """``line`` as a JSON object (for receipts kept in a database)."""
    return {"token": line.token, "kind": line.kind, "key": line.key,
            "evidence": line.evidence, "error": line.error, "error_type": line.error_type}


def line_from_json(data: dict[str, Any]) -> ReceiptLine:
    """The line of a JSON object :func:`line_to_json` made, or of the older form a Xero
    receipt had (``token``, ``key``, ``version`` and ``error``: ``null`` or ``{"type",
    "message"}``).

    Raises:
        KeyError: ``data`` has no ``token``.
    """
    if "evidence" not in data:  # the older form
        error = data.get("error") or {}
        return ReceiptLine(str(data["token"]), "", data.get("key") or "",
                           data.get("version") or "", error.get("message") or "",
                           error.get("type") or "")
    return ReceiptLine(str(data["token"]), data.get("kind") or "", data.get("key") or "",
                       data.get("evidence") or "", data.get("error") or "",
                       data.get("error_type") or "")


def line_of_result(result: WriteResult, kind: str = "") -> ReceiptLine:
    """The receipt line of an operation's ``result`` (its version as the evidence)."""
    error = result.error
    return ReceiptLine(result.token, kind, result.key or "", result.version or "",
                       "" if error is None else error.message,
                       "" if error is None else type(error).__name__)


def result_of_line(line: ReceiptLine, stream: str) -> WriteResult:
    """The result a receipt line of :func:`line_of_result` stands for; its error is of the
    class ``error_type`` names (:class:`~syncline.errors.ItemError` for an unknown one)."""
    error = None
    if line.error or line.error_type:
        kind = getattr(errors, line.error_type, None)
        if not (isinstance(kind, type) and issubclass(kind, ItemError)):
            kind = ItemError
        error = kind(line.error, stream=stream, key=line.key or None)
    return WriteResult(line.token, line.key or None, line.evidence or None, error)


class ReceiptFolder:
    """A folder of receipt files, the newest :attr:`keep` of them kept."""

    def __init__(self, path: Path, keep: int = 256) -> None:
        self.path = path
        self.keep = keep

    def write(self, batch_id: str, lines: Sequence[ReceiptLine]) -> None:
        """Store a batch's receipt (atomically) and drop the oldest beyond :attr:`keep`.

        Raises:
            OSError: the folder cannot be written.
        """
        atomic_write(self.path, batch_file_name(batch_id), format_receipt(lines).encode())
        self._prune()

    def read(self, batch_id: str) -> list[ReceiptLine] | None:
        """The receipt of a batch; ``None`` when there is none (the batch never started) or
        it cannot be read."""
        try:
            text = (self.path / batch_file_name(batch_id)).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        return parse_receipt(text)

    def _prune(self) -> None:
        """Drop the oldest receipts beyond :attr:`keep` (their files are only looked at, one
        ``stat`` each, when there are too many)."""
        try:
            if len(os.listdir(self.path)) <= self.keep:
                return
            receipts = sorted(self.path.iterdir(), key=lambda p: p.stat().st_mtime_ns)
        except OSError:
            return
        for old in receipts[:-self.keep]:
            old.unlink(missing_ok=True)


# -- atomic writes ----------------------------------------------------------------------------
def _write_all(descriptor: int, data: bytes, durable: bool) -> os.stat_result:
    """Write all of ``data`` to the open file ``descriptor`` (and flush it to the disk when
    ``durable``); returns the file's status after.

    Raises:
        OSError: the file cannot be written.
    """
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view):]
    if durable:
        os.fsync(descriptor)
    return os.fstat(descriptor)


_TEMP_TOKEN = secrets.token_hex(4)
_TEMP_COUNTER = itertools.count()


def _temporary(prefix: str, data: bytes, durable: bool) -> tuple[str, os.stat_result]:
    """A new hidden temporary file holding ``data`` in the folder ``prefix`` names (ending
    with a separator): its path and its status. Its name is unique to this process (a
    random token and a counter), and it is created exclusively all the same.

    Raises:
        OSError: the folder cannot be written.
    """
    while True:
        temp = f"{prefix}{TEMP_PREFIX}{_TEMP_TOKEN}-{next(_TEMP_COUNTER)}.tmp"
        try:
            descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:  # left by a process with the same token: take the next
            continue
        break
    try:
        info = _write_all(descriptor, data, durable)
    except BaseException:
        os.close(descriptor)
        os.unlink(temp)
        raise
    os.close(descriptor)
    return temp, info


_UNNAMED = getattr(os, "O_TMPFILE", 0)
_NO_UNNAMED: set[str] = set()
"""Folders (as prefixes) where an unnamed temporary file cannot be made or linked."""

_NOT_SUPPORTED = (errno.EISDIR, errno.EOPNOTSUPP, errno.EINVAL, errno.EXDEV, errno.EPERM)
"""What an ``O_TMPFILE`` open or its link says where the kernel or the file system does not
do it (a kernel without it takes the flag for a directory opened for writing: EISDIR)."""


def _write_unnamed(directory: int, prefix: str, name: str, data: bytes,
                   durable: bool) -> os.stat_result | None:
    """Write ``data`` to the new file ``name`` of the folder ``prefix`` (open as the
    descriptor ``directory``) through an *unnamed* temporary file (Linux ``O_TMPFILE``)
    linked into place: as atomic and as exclusive as a named temporary file and a hard
    link, with one directory entry made instead of two made and one removed, and nothing
    left behind by a crash. ``None`` when the system or the file system cannot (the caller
    then takes a named temporary file).

    Raises:
        FileExistsError: the file exists.
        OSError: the folder cannot be written.
    """
    try:
        descriptor = os.open(prefix, os.O_WRONLY | _UNNAMED, 0o644)
    except OSError as error:
        if error.errno in _NOT_SUPPORTED:
            _NO_UNNAMED.add(prefix)
            return None
        raise
    try:
        info = _write_all(descriptor, data, durable)
        try:  # linkat(..., AT_SYMLINK_FOLLOW): the way open(2) documents for O_TMPFILE
            os.link(f"/proc/self/fd/{descriptor}", name, dst_dir_fd=directory)
        except FileExistsError:
            raise
        except OSError as error:
            if error.errno not in (errno.ENOENT, *_NOT_SUPPORTED) \
                    or not os.path.isdir(prefix):  # no /proc, or no such link here
                raise
            _NO_UNNAMED.add(prefix)
            return None
    finally:
        os.close(descriptor)
    return info


def atomic_write(folder: Path | str, name: str, data: bytes, *, exclusive: bool = False,
                 directory: int | None = None, durable: bool = False) -> os.stat_result:
    """Write ``data`` to ``folder / name`` through a temporary file in the same folder.

    With ``exclusive`` the file must not exist yet: it is hard-linked into place (atomic
    and never overwriting; a plain existence check and rename where the file system has no
    hard links). Given ``directory``, a descriptor of the folder, the temporary file is an
    unnamed one where the system allows (see :func:`_write_unnamed`). Otherwise
    ``os.replace`` swaps it in atomically. With ``durable`` the bytes are flushed to the
    disk (``fsync``) before the file takes its name. Returns the new file's status (a
    rename keeps the modification time, so it is taken before the rename).

    Raises:
        FileExistsError: ``exclusive`` and the file exists.
        OSError: the folder cannot be written.
    """
    prefix = os.path.join(folder, "")  # the folder, ending with a separator
    if exclusive and directory is not None and _UNNAMED and prefix not in _NO_UNNAMED:
        written = _write_unnamed(directory, prefix, name, data, durable)
        if written is not None:
            return written
    target = f"{prefix}{name}"
    temp, info = _temporary(prefix, data, durable)
    try:
        if exclusive:
            try:
                os.link(temp, target)
            except FileExistsError:
                raise
            except OSError:  # no hard links here
                if os.path.exists(target):
                    raise FileExistsError(target) from None
                os.replace(temp, target)
                return info
            os.unlink(temp)
        else:
            os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    return info
