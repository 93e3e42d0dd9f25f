"""Rows (a)...(d) of the DAV benchmark: a folder of vCards synced to an empty folder.

Each tool works in a folder of its own (``<work>/syncline``, ``<work>/vdirsyncer``) holding
``a`` (the cards), ``b`` (the copy), its configuration and its state; both start from the
same cards. Every measured sync is checked afterwards (counts, and the edited cards' new
text on side b), so a tool that did less work cannot look faster. The preparation of each
round (copies, edits, deletions) is synced to disk before the round is measured, so that
whichever tool runs first does not pay for its writeback.

Each round also measures the floors (see :mod:`bench.dav_floors`) first, right after that
preparation is synced to disk (the best conditions any tool meets in the round), in a folder
of their own, ``<work>/floor``, prepared as the tools' folders are: the start-up floor, then
for (a) the copy floor (``a`` copied into a fresh, empty ``b``; synced to disk again before
the tools run, so that they do not pay for its writeback) and for (b)...(d) the scan floor
(``a`` and ``b`` listed; the cards of (c), (d) changed and deleted in ``a`` as for the tools).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from bench.dav_data import change_cards, delete_cards, unfolded, write_cards
from bench.dav_floors import STARTUP_IMPORTS, copy_floor, scan_floor, startup_floor
from bench.dav_rows import Row
from bench.dav_tools import Measurement, ToolFailed, measure

__all__ = ["SYNCLINE_CONFIG", "VDIRSYNCER_CONFIG", "FolderBench"]

SYNCLINE_CONFIG = """\
[state]
url = "sqlite:///state.db"

[endpoints.cards]
connector = "vdir"
path = "a"
fileext = ".vcf"

[endpoints.copy]
connector = "vdir"
path = "b"
fileext = ".vcf"

[links.cards-copy]
a = "cards"
b = "copy"
streams = ["contact"]
direction = "both"
conflict = "a-wins"
"""

VDIRSYNCER_CONFIG = """\
[general]
status_path = "{folder}/status/"

[pair cards_copy]
a = "cards"
b = "copy"
collections = null
conflict_resolution = "a wins"

[storage cards]
type = "filesystem"
path = "{folder}/a/"
fileext = ".vcf"

[storage copy]
type = "filesystem"
path = "{folder}/b/"
fileext = ".vcf"
"""

TOOLS = ("syncline", "vdirsyncer")
FLOOR = "floor"
"""The name of the floors' folder in the work folder."""


def _settle() -> None:
    """Write the folders just prepared (20,000 files copied or removed) out to disk before
    a measured run, so that neither tool pays for that writeback (the tool measured first
    after the preparation did)."""
    if hasattr(os, "sync"):
        os.sync()


class FolderBench:
    """Runs rows (a)...(d) in ``work`` with ``count`` cards, ``runs`` runs per tool."""

    def __init__(self, work: Path, count: int, runs: int, *, syncline: Path,
                 vdirsyncer: Path, environment: dict[str, str],
                 log: Callable[[str], None]) -> None:
        self.work, self.count, self.runs = work, count, runs
        self.binaries = {"syncline": syncline, "vdirsyncer": vdirsyncer}
        self.environment = environment
        self.log = log
        self.source = work / "source"
        self.share = 0.01

    def folder(self, tool: str) -> Path:
        return self.work / tool

    def command(self, tool: str, *args: str) -> list[str]:
        folder = self.folder(tool)
        if tool == "syncline":
            return [str(self.binaries[tool]), "sync", "cards-copy", "--config",
                    str(folder / "syncline.toml")]
        return [str(self.binaries[tool]), "--config", str(folder / "config"), *(args or ("sync",))]

    def _fresh(self, tool: str) -> None:
        """``a`` holding every card, an empty ``b``, no state."""
        folder = self.folder(tool)
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(self.source, folder / "a")
        (folder / "b").mkdir()
        if tool == "syncline":
            (folder / "syncline.toml").write_text(SYNCLINE_CONFIG)
        else:
            (folder / "config").write_text(VDIRSYNCER_CONFIG.format(folder=folder))
            # a vdirsyncer user runs discover once, before the first sync: not timed
            measure(self.command(tool, "discover"), cwd=folder, environment=self.environment)

    def _fresh_floor(self) -> None:
        """The floors' folder: ``a`` holding every card, an empty ``b``."""
        folder = self.work / FLOOR
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(self.source, folder / "a")
        (folder / "b").mkdir()

    def _floors(self, row: Row) -> None:
        """Measure the start-up floor and the row's floor once (see the module docstring).

        Raises:
            ToolFailed: a floor process failed or did not do the work.
        """
        folder = self.work / FLOOR
        row.startup_floor.append(startup_floor(folder, self.environment))
        if row.key == "a":
            row.floor.append(copy_floor(folder / "a", folder / "b", self.environment))
            _settle()
        else:
            row.floor.append(scan_floor([folder / "a", folder / "b"], self.environment))

    def _sync(self, tool: str) -> Measurement:
        return measure(self.command(tool), cwd=self.folder(tool), environment=self.environment)

    def _check(self, tool: str, expected: int, revision: int | None = None,
               changed: int = 0) -> None:
        """Side b holds ``expected`` cards, ``changed`` of them edited to ``revision``.

        Raises:
            ToolFailed: it does not.
        """
        side_b = self.folder(tool) / "b"
        cards = [path for path in side_b.iterdir() if path.suffix == ".vcf"]
        if len(cards) != expected:
            raise ToolFailed(f"{tool}: side b holds {len(cards)} cards, not {expected}")
        if revision is not None:
            marker = f"Revision {revision}.".encode()
            found = sum(marker in unfolded(path.read_bytes()) for path in cards)
            if found != changed:
                raise ToolFailed(f"{tool}: {found} cards on side b hold revision {revision}, "
                                 f"not {changed}")

    def _order(self, run: int) -> tuple[str, ...]:
        return TOOLS if run % 2 == 0 else TOOLS[::-1]

    def rows(self) -> list[Row]:
        """Measure rows (a)...(d).

        Raises:
            ToolFailed: a tool failed or did not do the work.
        """
        self.log(f"writing {self.count:,} cards ...")
        shutil.rmtree(self.source, ignore_errors=True)
        write_cards(self.source, self.count)
        count, share = self.count, self.share
        imports = f"python -c '{STARTUP_IMPORTS}'"
        scan = (f"{imports}, then os.scandir + stat of every file of both folders, one "
                f"process")
        first = Row("a", "first sync, folder -> empty folder", count, 1.3, floor_work=(
            f"{imports}, then read each of the {count:,} cards and write it to a temporary "
            f"file (O_TMPFILE where the system has it) linked into place in a fresh, empty "
            f"folder, one process"))
        for run in range(self.runs):
            self.log(f"(a) run {run + 1}/{self.runs}")
            for tool in TOOLS:
                self._fresh(tool)
            self._fresh_floor()
            _settle()
            self._floors(first)
            for tool in self._order(run):
                getattr(first, tool).append(self._sync(tool))
                self._check(tool, count)
        again = Row("b", "re-sync, no change", count, 1.5, floor_work=scan)
        for run in range(self.runs):
            self.log(f"(b) run {run + 1}/{self.runs}")
            self._floors(again)
            for tool in self._order(run):
                getattr(again, tool).append(self._sync(tool))
                self._check(tool, count)
        changed = Row("c", f"re-sync, {share:.0%} changed on one side", count, 1.5,
                      floor_work=scan)
        for run in range(self.runs):
            self.log(f"(c) run {run + 1}/{self.runs}")
            revision = run + 1
            edits = {tool: change_cards(self.folder(tool) / "a", count, share,
                                        revision=revision) for tool in (*TOOLS, FLOOR)}
            _settle()
            self._floors(changed)
            for tool in self._order(run):
                getattr(changed, tool).append(self._sync(tool))
                self._check(tool, count, revision, edits[tool])
        deleted = Row("d", f"re-sync, {share:.0%} deleted on one side", count, 1.5,
                      floor_work=scan)
        remaining = count
        for run in range(self.runs):
            self.log(f"(d) run {run + 1}/{self.runs}")
            gone = {tool: delete_cards(self.folder(tool) / "a", count, share, offset=run + 1)
                    for tool in (*TOOLS, FLOOR)}
            _settle()
            self._floors(deleted)
            remaining -= gone["syncline"]
            for tool in self._order(run):
                getattr(deleted, tool).append(self._sync(tool))
                self._check(tool, remaining)
        return [first, again, changed, deleted]
