"""Floors of the DAV benchmark (``python -m bench.dav``): the least time any client could take
for a row's work on this machine, measured in the same rounds as the tools.

Terms:

floor
    The least seconds, over its runs, of the bare work a row cannot do without, done by the simplest
    program that can do it (no configuration, no state, no checks, no logging): whatever a
    real client adds comes on top: no client takes less than 1x the floor, and a target
    ratio to vdirsyncer above vdirsyncer's seconds / the floor's seconds (the *best ratio*)
    is attainable by no client.
start-up floor
    A whole Python process (``sys.executable`` of the benchmark, the interpreter syncline's
    console script runs on) that only imports the libraries syncline's design needs on the
    folder path: ``import sqlalchemy, pydantic, typer`` (the state store is SQLAlchemy Core;
    typer needs pydantic). Timed by :func:`bench.dav_tools.measure`, as the tools are.
copy floor (row a)
    One process that does the start-up floor's imports, then lists the source folder, reads
    each card and writes it to a temporary file in the fresh, empty target folder put into
    place (the least an atomic writer does; no fsync, as neither tool syncs each file): on
    Linux an unnamed ``O_TMPFILE`` file linked into place (one directory entry made, the way
    syncline's vdir connector writes), elsewhere a named one renamed into place. On
    this kind of machine the creation of 10,000 small files costs mostly kernel time and
    varies by up to 2x between identical runs, so this floor is the noisiest.
    The whole process is timed, so its figure is the start-up floor plus the copying, with
    the interpreter start counted once.
scan floor (rows b...d)
    One process that does the start-up floor's imports, then ``os.scandir`` + ``stat`` of
    every file of both folders: the least a re-sync does to learn what changed. Copying or
    deleting the 1% of cards of rows (c), (d) is left out (a few milliseconds).
server floors (rows e...g)
    Measured from the benchmark process with plain HTTP requests to the same Radicale server,
    against an address book of the floor's own holding the same cards: (e) the 1,000 PUTs
    (``If-None-Match: *``) of a bare client, one after the other (Radicale writes under one
    lock, so parallel requests would not be quicker); (f) one RFC 6578 ``sync-collection``
    REPORT with the sync-token of the previous answer: the issue asks a no-change re-sync to
    send it. For comparison, one PROPFIND (Depth 0) of the book's ``CS:getctag`` found
    unchanged is measured in the same rounds (Radicale answers it sooner: it hashes the
    members' ETags without updating the sync history), the least a client that may skip the
    REPORT would need; (g) that REPORT after the 1% change
    plus the ``addressbook-multiget`` of the changed hrefs (a ctag check would only come on
    top, and a PROPFIND of every member's ETag takes Radicale longer than the REPORT).
    No process start-up is counted: a client that stays running pays none.
"""

from __future__ import annotations

import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

from bench.dav_data import unfolded
from bench.dav_tools import ToolFailed, measure

if TYPE_CHECKING:
    from bench.dav_radicale import Radicale

__all__ = [
    "STARTUP_IMPORTS",
    "BookFloor",
    "copy_floor",
    "scan_floor",
    "startup_floor",
    "upload_floor",
]

STARTUP_IMPORTS = "import sqlalchemy, pydantic, typer"
"""The imports of the start-up floor: the libraries syncline's design requires."""

_COPY = STARTUP_IMPORTS + """
import os, sys
source, target = sys.argv[1], sys.argv[2]
os.listdir(target)
folder = os.open(target, os.O_RDONLY | os.O_DIRECTORY)
unnamed = getattr(os, "O_TMPFILE", 0) and os.path.isdir("/proc/self/fd")
for entry in os.scandir(source):
    with open(entry.path, "rb") as card:
        data = card.read()
    if unnamed:
        descriptor = os.open(target, os.O_WRONLY | os.O_TMPFILE, 0o644)
        os.write(descriptor, data)
        os.link(f"/proc/self/fd/{descriptor}", entry.name, dst_dir_fd=folder)
        os.close(descriptor)
    else:
        temporary = os.path.join(target, "." + entry.name + ".tmp")
        with open(temporary, "wb") as card:
            card.write(data)
        os.rename(temporary, os.path.join(target, entry.name))
"""

_SCAN = STARTUP_IMPORTS + """
import os, sys
for folder in sys.argv[1:]:
    for entry in os.scandir(folder):
        entry.stat()
"""

_DAV, _CARDDAV = "DAV:", "urn:ietf:params:xml:ns:carddav"
_CALENDARSERVER = "http://calendarserver.org/ns/"
_CTAG_BODY = (f'<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:" '
              f'xmlns:CS="{_CALENDARSERVER}"><D:prop><CS:getctag/></D:prop></D:propfind>'
              ).encode()


def startup_floor(cwd: Path, environment: dict[str, str]) -> float:
    """Seconds of one start-up floor process (see the module docstring).

    Raises:
        ToolFailed: the process fails (a library is missing).
    """
    return measure([sys.executable, "-c", STARTUP_IMPORTS], cwd=cwd,
                   environment=environment).seconds


def copy_floor(source: Path, target: Path, environment: dict[str, str]) -> float:
    """Seconds of one copy floor process copying every file of ``source`` into the empty
    folder ``target``.

    Raises:
        ToolFailed: the process fails, or ``target`` does not end up with every file.
    """
    seconds = measure([sys.executable, "-c", _COPY, str(source), str(target)],
                      cwd=target.parent, environment=environment).seconds
    expected = sum(1 for _ in source.iterdir())
    found = sum(1 for path in target.iterdir() if not path.name.startswith("."))
    if found != expected:
        raise ToolFailed(f"copy floor: {target} holds {found} files, not {expected}")
    return seconds


def scan_floor(folders: list[Path], environment: dict[str, str]) -> float:
    """Seconds of one scan floor process listing ``folders`` with a stat of every file.

    Raises:
        ToolFailed: the process fails (a folder is missing).
    """
    return measure([sys.executable, "-c", _SCAN, *map(str, folders)],
                   cwd=folders[0].parent, environment=environment).seconds


def upload_floor(server: Radicale, url: str, cards: Path) -> float:
    """Seconds a bare client takes to PUT every ``.vcf`` file of ``cards`` into the empty
    address book at ``url``, one request after the other (``If-None-Match: *``).

    Raises:
        ToolFailed: the server refuses one.
    """
    paths = sorted(path for path in cards.iterdir() if path.suffix == ".vcf")
    started = time.perf_counter()
    for path in paths:
        status, _ = server.exchange("PUT", url + path.name, path.read_bytes(),
                                    {"Content-Type": "text/vcard; charset=utf-8",
                                     "If-None-Match": "*"})
        if status not in (201, 204):
            raise ToolFailed(f"upload floor: PUT {url}{path.name}: HTTP {status}")
    return time.perf_counter() - started


def _sync_collection_body(token: str) -> bytes:
    token_element = f"<D:sync-token>{token}</D:sync-token>" if token else "<D:sync-token/>"
    return (f'<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:">'
            f'{token_element}<D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop>'
            f'</D:sync-collection>').encode()


def _multiget_body(hrefs: list[str]) -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><C:addressbook-multiget xmlns:D="DAV:" '
            f'xmlns:C="{_CARDDAV}"><D:prop><D:getetag/><C:address-data/></D:prop>'
            + "".join(f"<D:href>{href}</D:href>" for href in hrefs)
            + "</C:addressbook-multiget>").encode()


class BookFloor:
    """The server floor of rows (f), (g): a bare RFC 6578 client of the address book at
    ``url``, holding the sync-token of its previous answer (see :meth:`start`)."""

    def __init__(self, server: Radicale, url: str) -> None:
        self.server, self.url = server, url
        self.token = ""
        self.ctag = ""

    def _report(self, body: bytes, depth: str) -> ET.Element:
        """One REPORT; its multistatus.

        Raises:
            ToolFailed: the answer is not a multistatus.
        """
        status, answer = self.server.exchange("REPORT", self.url, body, {
            "Content-Type": "application/xml; charset=utf-8", "Depth": depth})
        if status != 207:
            raise ToolFailed(f"book floor: REPORT {self.url}: HTTP {status}")
        return ET.fromstring(answer)

    def _sync(self) -> list[str]:
        """A sync-collection REPORT since :attr:`token`; the changed hrefs (removed ones
        left out). Keeps the new token.

        Raises:
            ToolFailed: the answer is not a multistatus or holds no sync-token.
        """
        root = self._report(_sync_collection_body(self.token), "0")
        token = root.findtext(f"{{{_DAV}}}sync-token")
        if not token:
            raise ToolFailed(f"book floor: REPORT {self.url}: no sync-token in the answer")
        self.token = token
        return [response.findtext(f"{{{_DAV}}}href") or ""
                for response in root.iter(f"{{{_DAV}}}response")
                if response.find(f"{{{_DAV}}}propstat") is not None]

    def _ctag(self) -> str:
        """The book's ``CS:getctag`` (a PROPFIND, Depth 0).

        Raises:
            ToolFailed: the answer is not a multistatus holding one.
        """
        status, answer = self.server.exchange("PROPFIND", self.url, _CTAG_BODY, {
            "Content-Type": "application/xml; charset=utf-8", "Depth": "0"})
        ctag = ET.fromstring(answer).findtext(f".//{{{_CALENDARSERVER}}}getctag") \
            if status == 207 else None
        if not ctag:
            raise ToolFailed(f"book floor: PROPFIND {self.url}: HTTP {status}, no getctag")
        return ctag

    def start(self) -> int:
        """The first sync-collection REPORT (no token) and ctag (not floors): returns how
        many members the book holds.

        Raises:
            ToolFailed: see :meth:`_sync`, :meth:`_ctag`.
        """
        members = len(self._sync())
        self.ctag = self._ctag()
        return members

    def unchanged(self) -> float:
        """Seconds of the other way to learn that nothing changed: one PROPFIND (Depth 0)
        of the book's ``CS:getctag``, found equal to the one of :meth:`start`.

        Raises:
            ToolFailed: the request fails or the ctag changed.
        """
        started = time.perf_counter()
        ctag = self._ctag()
        seconds = time.perf_counter() - started
        if ctag != self.ctag:
            raise ToolFailed(f"book floor: the ctag of {self.url} changed")
        return seconds

    def resync(self, revision: int | None, expected: int) -> float:
        """Seconds of one re-sync: the REPORT since the previous token and, when members
        changed, the multiget of their hrefs. ``expected`` members must have changed, to
        ``revision`` (``None``: nothing changed).

        Raises:
            ToolFailed: a request fails, or the changes are not the ones expected.
        """
        started = time.perf_counter()
        hrefs = self._sync()
        cards: list[bytes] = []
        if hrefs:
            root = self._report(_multiget_body(hrefs), "1")
            cards = [(element.text or "").encode()
                     for element in root.iter(f"{{{_CARDDAV}}}address-data")]
        seconds = time.perf_counter() - started
        marker = f"Revision {revision}.".encode()
        edited = sum(marker in unfolded(card) for card in cards) if revision else 0
        if len(hrefs) != expected or len(cards) != expected or edited != expected:
            raise ToolFailed(f"book floor: {len(hrefs)} changed hrefs, {len(cards)} cards, "
                             f"{edited} at revision {revision}; expected {expected}")
        return seconds
