"""Rows (e)...(g) of the DAV benchmark: a folder of vCards synced with a Radicale address book.

One Radicale server (``python -m radicale`` of syncline's environment, where it is a test
dependency) runs on 127.0.0.1 with htpasswd authentication; each tool has address books of
its own on it:

(e) ``<tool>-upload-<run>``: a new, empty address book per run; the tool uploads ``--upload``
    cards from a folder. Radicale walks the collection for every new item, so it is the
    bottleneck; the target is to be no slower.
(f) ``<tool>-book``: 10,000 cards copied into Radicale's storage folder before the server
    starts; the tool first downloads them into an empty folder (not timed), then re-syncs
    with no change (timed).
(g) 1% of those cards changed on the server between runs (plain PUT requests, as another
    client would send them; not timed), then a timed re-sync.

Every measured sync is checked: the server's collection holds the uploaded cards, the
folder holds every card and the edited ones' new text.

The server floors (see :mod:`bench.dav_floors`) are measured in each round right after the
tools, against the same server: (e) a bare client's PUTs into ``floor-upload-<run>``; (f), (g)
a bare RFC 6578 client of ``floor-book``, which holds the same cards as the tools' books and
gets the same changes.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from bench.dav_data import card_text, uid, unfolded, write_cards
from bench.dav_floors import BookFloor, upload_floor
from bench.dav_rows import Against, Row
from bench.dav_tools import Measurement, ToolFailed, measure

__all__ = ["RadicaleBench", "carddav_problem"]

USER, PASSWORD = "bench", "bench-password"
PASSWORD_VARIABLE = "SYNCLINE_BENCH_DAV_PASSWORD"
TOOLS = ("syncline", "vdirsyncer")
FLOOR = "floor"
"""The name the floors' address books start with."""
REPORT_WAY, CTAG_WAY = "sync-collection REPORT", "getctag PROPFIND"
"""The two ways of row (f)'s floor, as the table's notes name them."""

SYNCLINE_CONFIG = """\
[state]
url = "sqlite:///state.db"

[endpoints.local]
connector = "vdir"
path = "local"
fileext = ".vcf"

[endpoints.server]
connector = "carddav"
url = "{url}"
username = "{user}"
password = "env:{variable}"
timeout = 600

[links.book]
a = "local"
b = "server"
streams = ["contact"]
direction = "both"
conflict = "a-wins"
"""

VDIRSYNCER_CONFIG = """\
[general]
status_path = "{folder}/status/"

[pair book]
a = "local"
b = "server"
collections = null
conflict_resolution = "a wins"

[storage local]
type = "filesystem"
path = "{folder}/local/"
fileext = ".vcf"

[storage server]
type = "carddav"
url = "{url}"
username = "{user}"
password = "{password}"
"""


def carddav_problem() -> str | None:
    """Why rows (e)...(g) cannot run here, or ``None`` when they can."""
    from syncline.connectors import available_connectors, connector_class
    from syncline.errors import ConfigError

    if "carddav" not in available_connectors():
        return "carddav connector not available"
    try:
        connector_class("carddav")
    except ConfigError as error:
        return f"carddav connector not available ({error})"
    try:
        import radicale  # noqa: F401
    except ImportError:
        return "Radicale is not installed in syncline's environment (pip install -e '.[test]')"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Radicale:
    """A Radicale server with its storage in ``folder`` (see :meth:`running`)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.storage = folder / "storage"
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.process: subprocess.Popen[bytes] | None = None

    def collection_folder(self, name: str) -> Path:
        return self.storage / "collection-root" / USER / name

    def prefill(self, name: str, cards: Path) -> None:
        """Make address book ``name`` holding copies of the .vcf files in ``cards`` (the
        server must not run yet)."""
        target = self.collection_folder(name)
        shutil.copytree(cards, target)
        (target / ".Radicale.props").write_text(json.dumps(
            {"tag": "VADDRESSBOOK", "D:displayname": name}))

    @contextlib.contextmanager
    def running(self) -> Iterator[Radicale]:
        """Start the server; stop it when the block ends.

        Raises:
            ToolFailed: it does not answer within a minute.
        """
        (self.folder / "users").write_text(f"{USER}:{PASSWORD}\n")
        config = self.folder / "config"
        config.write_text(
            f"[server]\nhosts = 127.0.0.1:{self.port}\nmax_connections = 20\n"
            f"timeout = 600\n[auth]\ntype = htpasswd\n"
            f"htpasswd_filename = {self.folder / 'users'}\nhtpasswd_encryption = plain\n"
            f"delay = 0\n[rights]\ntype = owner_only\n[storage]\n"
            f"filesystem_folder = {self.storage}\n[logging]\nlevel = warning\n")
        log = open(self.folder / "radicale.log", "wb")  # noqa: SIM115 - closed below
        self.process = subprocess.Popen([sys.executable, "-m", "radicale", "--config",
                                         str(config)], stdout=log, stderr=subprocess.STDOUT)
        try:
            self._wait()
            yield self
        finally:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            log.close()

    def _wait(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise ToolFailed(f"Radicale exited: {(self.folder / 'radicale.log').read_text()}")
            try:
                self.request("OPTIONS", self.url)
                return
            except OSError:
                time.sleep(0.1)
        raise ToolFailed("Radicale did not answer within a minute")

    def request(self, method: str, url: str, body: bytes | None = None,
                content_type: str = "application/xml") -> int:
        """One plain HTTP request; returns the status (HTTP errors included).

        Raises:
            OSError: the server cannot be reached.
        """
        return self.exchange(method, url, body, {"Content-Type": content_type})[0]

    def exchange(self, method: str, url: str, body: bytes | None = None,
                 headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """One plain HTTP request (authenticated, with ``headers``); returns the status
        (HTTP errors included) and the body of the answer.

        Raises:
            OSError: the server cannot be reached.
        """
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        request = urllib.request.Request(url, data=body, method=method, headers={
            "Authorization": f"Basic {token}", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=600) as answer:
                return int(answer.status), answer.read()
        except urllib.error.HTTPError as error:
            return int(error.code), error.read()

    def make_addressbook(self, name: str) -> str:
        """Create an empty address book; returns its URL.

        Raises:
            ToolFailed: the server refuses.
        """
        url = f"{self.url}{USER}/{name}/"
        body = (f'<?xml version="1.0" encoding="utf-8"?><D:mkcol xmlns:D="DAV:" '
                f'xmlns:C="urn:ietf:params:xml:ns:carddav"><D:set><D:prop><D:resourcetype>'
                f'<D:collection/><C:addressbook/></D:resourcetype><D:displayname>{name}'
                f'</D:displayname></D:prop></D:set></D:mkcol>').encode()
        status = self.request("MKCOL", url, body)
        if status != 201:
            raise ToolFailed(f"MKCOL {url}: HTTP {status}")
        return url

    def card_count(self, name: str) -> int:
        """The items address book ``name`` holds (files in its storage folder)."""
        return sum(1 for path in self.collection_folder(name).iterdir()
                   if path.is_file() and not path.name.startswith("."))

    def change_cards(self, name: str, numbers: list[int], revision: int) -> None:
        """Rewrite cards ``numbers`` of address book ``name`` with plain PUT requests, as
        another client would.

        Raises:
            ToolFailed: the server refuses one.
        """
        for number in numbers:
            url = f"{self.url}{USER}/{name}/{uid(number)}.vcf"
            status = self.request("PUT", url, card_text(number, revision=revision).encode(),
                                  "text/vcard; charset=utf-8")
            if status not in (201, 204):
                raise ToolFailed(f"PUT {url}: HTTP {status}")


class RadicaleBench:
    """Runs rows (e)...(g) in ``work``: ``count`` cards in the address book of (f), (g),
    ``upload`` cards for (e), ``runs`` runs per tool."""

    def __init__(self, work: Path, count: int, upload: int, runs: int, *, syncline: Path,
                 vdirsyncer: Path, environment: dict[str, str],
                 log: Callable[[str], None]) -> None:
        self.work, self.count, self.upload, self.runs = work, count, upload, runs
        self.binaries = {"syncline": syncline, "vdirsyncer": vdirsyncer}
        self.environment = {**environment, PASSWORD_VARIABLE: PASSWORD}
        self.log = log
        self.share = 0.01

    def skeleton(self) -> list[Row]:
        sync = (f"the server answering one sync-collection REPORT (RFC 6578) on the "
                f"{self.count:,}-card book with the previous answer's sync-token, asked by a "
                f"plain HTTP client in the bench process (no process start-up)")
        unchanged = (f"{sync}; the issue asks a no-change re-sync to send that REPORT, so it "
                     f"is the floor. For comparison, the {CTAG_WAY} (Depth 0, found "
                     f"unchanged), which a client that may skip the REPORT could send "
                     f"instead, measured in the same rounds")
        return [Row("e", "first upload to an empty Radicale address book", self.upload, 1,
                    Against.VDIRSYNCER,
                    floor_work=f"the server taking {self.upload:,} PUTs (If-None-Match: *) "
                               f"into an empty book from a plain HTTP client in the bench "
                               f"process, one after the other (no process start-up)"),
                Row("f", "re-sync with Radicale, no change", self.count, 1.5,
                    floor_work=unchanged),
                Row("g", f"re-sync, {self.share:.0%} changed on the server", self.count, 1.5,
                    floor_work=f"{sync}, plus the addressbook-multiget of the "
                               f"{self.share:.0%} changed hrefs")]

    def rows(self, keys: str = "efg") -> list[Row]:
        """Measure rows (e)...(g), those of ``keys`` (the others are returned unmeasured),
        or report them skipped with the reason.

        Raises:
            ToolFailed: a tool failed or did not do the work.
        """
        rows = self.skeleton()
        problem = carddav_problem()
        if problem is not None:
            for row in rows:
                row.skipped = problem
            return rows
        upload, again, changed = rows
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        cards, few = self.work / "cards", self.work / "few"
        write_cards(cards, self.count)
        write_cards(few, self.upload)
        server = Radicale(self.work / "radicale")
        for tool in (*TOOLS, FLOOR):
            server.prefill(f"{tool}-book", cards)
        with server.running():
            if "e" in keys:
                self._upload(server, few, upload)
            if set(keys) & set("fg"):
                self._book(server, again, changed)
        return rows

    # -- helpers -----------------------------------------------------------------------------
    def _folder(self, tool: str, name: str) -> Path:
        return self.work / tool / name

    def _prepare(self, tool: str, folder: Path, url: str, local: Path | None) -> None:
        """A fresh folder for ``tool``: ``local`` (a copy of ``local``, else empty), the
        configuration naming ``url``; vdirsyncer's one-time discover (not timed)."""
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        if local is not None:
            shutil.copytree(local, folder / "local")
        else:
            (folder / "local").mkdir()
        if tool == "syncline":
            (folder / "syncline.toml").write_text(SYNCLINE_CONFIG.format(
                url=url, user=USER, variable=PASSWORD_VARIABLE))
        else:
            (folder / "config").write_text(VDIRSYNCER_CONFIG.format(
                folder=folder, url=url, user=USER, password=PASSWORD))
            self._run(tool, folder, "discover")

    def _run(self, tool: str, folder: Path, command: str = "sync") -> Measurement:
        if tool == "syncline":  # the link by name: Sync All is off until switched on
            link = ["book"] if command == "sync" else []
            arguments = [str(self.binaries[tool]), command, *link, "--config",
                         str(folder / "syncline.toml")]
        else:
            arguments = [str(self.binaries[tool]), "--config", str(folder / "config"), command]
        return measure(arguments, cwd=folder, environment=self.environment)

    def _local_count(self, folder: Path) -> list[Path]:
        return [path for path in (folder / "local").iterdir() if path.suffix == ".vcf"]

    # -- rows -------------------------------------------------------------------------------
    def _upload(self, server: Radicale, few: Path, row: Row) -> None:
        for run in range(self.runs):
            self.log(f"(e) run {run + 1}/{self.runs}")
            for tool in TOOLS if run % 2 == 0 else TOOLS[::-1]:
                name = f"{tool}-upload-{run + 1}"
                folder = self._folder(tool, name)
                self._prepare(tool, folder, server.make_addressbook(name), few)
                getattr(row, tool).append(self._run(tool, folder))
                found = server.card_count(name)
                if found != self.upload:
                    raise ToolFailed(f"{tool}: the address book holds {found} cards after the "
                                     f"upload, not {self.upload}")
            name = f"{FLOOR}-upload-{run + 1}"
            row.floor.append(upload_floor(server, server.make_addressbook(name), few))
            found = server.card_count(name)
            if found != self.upload:
                raise ToolFailed(f"upload floor: the address book holds {found} cards, not "
                                 f"{self.upload}")

    def _book(self, server: Radicale, again: Row, changed: Row) -> None:
        folders = {tool: self._folder(tool, "book") for tool in TOOLS}
        for tool, folder in folders.items():
            self.log(f"(f) {tool}: first download of {self.count:,} cards (not timed)")
            self._prepare(tool, folder, f"{server.url}{USER}/{tool}-book/", None)
            self._run(tool, folder)
            self._check(tool, folders[tool], None, 0)
        floor = BookFloor(server, f"{server.url}{USER}/{FLOOR}-book/")
        found = floor.start()
        if found != self.count:
            raise ToolFailed(f"book floor: the first REPORT lists {found} cards, not "
                             f"{self.count}")
        for run in range(self.runs):
            self.log(f"(f) run {run + 1}/{self.runs}")
            for tool in TOOLS if run % 2 == 0 else TOOLS[::-1]:
                getattr(again, tool).append(self._run(tool, folders[tool]))
                self._check(tool, folders[tool], None, 0)
            measures = {REPORT_WAY: lambda: floor.resync(None, 0), CTAG_WAY: floor.unchanged}
            order = list(measures) if run % 2 == 0 else list(measures)[::-1]
            ways = {way: measures[way]() for way in order}
            for way, seconds in ways.items():
                again.floor_parts.setdefault(way, []).append(seconds)
            again.floor.append(ways[REPORT_WAY])
        step = max(1, round(1 / self.share))
        numbers = list(range(1, self.count + 1, step))
        for run in range(self.runs):
            self.log(f"(g) run {run + 1}/{self.runs}")
            revision = run + 1
            for tool in (*TOOLS, FLOOR):
                server.change_cards(f"{tool}-book", numbers, revision)
            for tool in TOOLS if run % 2 == 0 else TOOLS[::-1]:
                getattr(changed, tool).append(self._run(tool, folders[tool]))
                self._check(tool, folders[tool], revision, len(numbers))
            changed.floor.append(floor.resync(revision, len(numbers)))

    def _check(self, tool: str, folder: Path, revision: int | None, edited: int) -> None:
        """The folder holds every card, ``edited`` of them at ``revision``.

        Raises:
            ToolFailed: it does not.
        """
        cards = self._local_count(folder)
        if len(cards) != self.count:
            raise ToolFailed(f"{tool}: the folder holds {len(cards)} cards, not {self.count}")
        if revision is not None:
            marker = f"Revision {revision}.".encode()
            found = sum(marker in unfolded(path.read_bytes()) for path in cards)
            if found != edited:
                raise ToolFailed(f"{tool}: {found} cards in the folder hold revision "
                                 f"{revision}, not {edited}")
