"""The demo, step by step. The CLI's ``syncline demo`` drives a :class:`Demo` and shows each
step's result; tests drive it directly.

Steps: :meth:`Demo.prepare` (empty the folder of a previous demo), :meth:`Demo.build` (the
two databases), :meth:`Demo.write_config`, :meth:`Demo.setup` (change capture on both
sides), :meth:`Demo.sync` (first sync), :meth:`Demo.change_both_sides`, :meth:`Demo.sync`
again, then :meth:`Demo.conflicts` and :meth:`Demo.journal_counts` to tell what happened.
Last, the groupware links (:mod:`syncline.demo.groupware`): :meth:`Demo.setup` and
:meth:`Demo.sync` of each link in :data:`~syncline.demo.groupware.GROUPWARE_LINKS`, and
:meth:`Demo.groupware` to tell what the folders hold.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from syncline.config import Config, load_config
from syncline.demo.configuration import DEMO_CONFIG, LINK
from syncline.demo.data import generate_pair
from syncline.demo.databases import build_books, build_crm
from syncline.demo.groupware import (
    GROUPWARE_FOLDER,
    FolderContents,
    build_groupware,
    folder_contents,
)
from syncline.demo.scenario import ConflictCase, EditReport, apply_edits, contact_phone
from syncline.engine import ProgressReporter, RunRequest, RunSummary, open_endpoint
from syncline.service.lock import holder_text
from syncline.service.runner import run_link
from syncline.state.store import StateStore

__all__ = ["DEMO_FILES", "DEMO_FOLDERS", "ConflictStory", "Demo"]

DEMO_FILES = ("crm.db", "books.db", "syncline.toml", "syncline-state.db")
"""The files a demo folder holds (SQLite may add ``-wal``, ``-shm``, ``-journal`` beside)."""
DEMO_FOLDERS = (GROUPWARE_FOLDER, ".syncline/vdir")
"""The folders a demo folder holds: the groupware items and the vdir connector's state."""


@dataclass(frozen=True)
class ConflictStory:
    """A conflict the second sync met: the journal's account of it (``message`` says how
    it was resolved) and, for the demo's own conflict, what each side holds afterwards."""

    stream: str
    a_key: str | None
    b_key: str | None
    direction: str
    message: str
    case: ConflictCase | None = None
    crm_now: str | None = None
    books_now: str | None = None


class Demo:
    """The demo in ``folder`` (created when missing)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.crm = folder / "crm.db"
        self.books = folder / "books.db"
        self.config_file = folder / "syncline.toml"
        self.edits: EditReport | None = None

    def prepare(self) -> list[Path]:
        """Create the folder, or remove a previous demo's files from it (other files stay).
        Returns the files removed."""
        self.folder.mkdir(parents=True, exist_ok=True)
        removed: list[Path] = []
        for name in DEMO_FILES:
            for suffix in ("", "-wal", "-shm", "-journal"):
                path = self.folder / f"{name}{suffix}"
                if path.exists():
                    path.unlink()
                    removed.append(path)
        for name in DEMO_FOLDERS:
            path = self.folder / name
            if path.is_dir():
                shutil.rmtree(path)
                removed.append(path)
        return removed

    def build(self) -> dict[str, dict[str, int]]:
        """Create both databases; returns rows per table per database."""
        crm_data, books_data = generate_pair()
        build_crm(self.crm, crm_data)
        build_groupware(self.crm)
        build_books(self.books, crm_data, books_data)
        return {"crm": _table_sizes(self.crm), "books": _table_sizes(self.books)}

    def write_config(self) -> Path:
        """Write the demo's commented ``syncline.toml``; returns its path."""
        self.config_file.write_text(DEMO_CONFIG, encoding="utf-8")
        return self.config_file

    def config(self) -> Config:
        """The demo configuration, loaded and checked.

        Raises:
            ConfigError: the file was not written or was changed into something wrong.
        """
        return load_config(self.config_file)

    def setup(self, link_name: str = LINK) -> dict[str, list[str]]:
        """Prepare both endpoints of ``link_name`` for incremental sync; returns what each
        did.

        Raises:
            RunError: an endpoint cannot be opened.
        """
        config = self.config()
        link = config.link(link_name)
        done: dict[str, list[str]] = {}
        for name in (link.a, link.b):
            connector = open_endpoint(config, name)
            connector.open()
            try:
                done[name] = connector.setup(list(link.streams))
            finally:
                connector.close()
        return done

    def _store(self, config: Config) -> StateStore:
        return StateStore.open(config.resolve_url(config.state.url))

    def sync(self, progress: ProgressReporter | None = None,
             link_name: str = LINK) -> RunSummary:
        """Run the link ``link_name`` (the one between the databases, by default) once,
        through the service's one way in (:func:`syncline.service.run_link`).

        Raises:
            RunError: an endpoint cannot be used.
        """
        config = self.config()
        store = self._store(config)
        try:
            return run_link(config, store, RunRequest(link_name), progress=progress,
                            holder=holder_text("syncline demo", None))
        finally:
            store.close()

    def groupware(self) -> list[FolderContents]:
        """What each groupware folder holds (see :mod:`syncline.demo.groupware`)."""
        return folder_contents(self.folder)

    def paired(self, first: RunSummary) -> dict[str, tuple[int, tuple[str, ...]]]:
        """After the first sync ``first``: per stream, how many records were already on both
        sides and were paired by the link's natural keys instead of created, and those keys
        (mappings that no creation of the run accounts for)."""
        config = self.config()
        link = config.link(LINK)
        store = self._store(config)
        try:
            return {stream: (store.count_mappings(store.scope_id(LINK, stream)) - counts.A,
                             tuple(link.match.get(stream, ())))
                    for stream, counts in first.streams.items()}
        finally:
            store.close()

    def change_both_sides(self) -> EditReport:
        """Edit both databases as their users would (see :mod:`syncline.demo.scenario`)."""
        self.edits = apply_edits(self.crm, self.books)
        return self.edits

    def conflicts(self, run_id: int) -> list[ConflictStory]:
        """The conflicts run ``run_id`` resolved, from its journal."""
        config = self.config()
        store = self._store(config)
        try:
            rows = store.journal(LINK, run_id=run_id, limit=None)
        finally:
            store.close()
        case = self.edits.conflict if self.edits is not None else None
        stories: list[ConflictStory] = []
        for row in reversed(rows):
            message = str(row["message"] or "")
            if not message.startswith("conflict"):
                continue
            ours = case is not None and row["stream"] == case.stream \
                and row["a_key"] == case.crm_key and row["b_key"] == case.books_key
            crm_now = books_now = None
            if ours and case is not None:
                crm_now, books_now = contact_phone(self.crm, self.books, case)
            stories.append(ConflictStory(row["stream"], row["a_key"], row["b_key"],
                                         row["direction"], message, case if ours else None,
                                         crm_now, books_now))
        return stories

    def journal_counts(self, run_id: int) -> Counter[tuple[str, str, str]]:
        """Journal rows of run ``run_id`` counted by (action, direction, outcome)."""
        config = self.config()
        store = self._store(config)
        try:
            rows = store.journal(LINK, run_id=run_id, limit=None)
        finally:
            store.close()
        return Counter((row["action"], row["direction"], row["outcome"]) for row in rows)


def _table_sizes(path: Path) -> dict[str, int]:
    db = sqlite3.connect(path)
    try:
        tables = [row[0] for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND name NOT LIKE 'syncline_%' ORDER BY rowid")]
        return {table: int(db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])
                for table in tables}
    finally:
        db.close()
