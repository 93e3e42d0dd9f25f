"""Defect 8 of issue 14 (line endings): text values of a CRM on PostgreSQL holding CRLF (and
a lone CR, and LF) line breaks, synced both ways with a vdir folder and with a real Radicale
address book. vCard carries a line break only as ``\\n``, so a card holds LF; the canonical
form compares the three line endings as equal, so that a ``--full`` sync afterwards finds
nothing to do and the CRM keeps its CRLF values as they are. A text edited on the card does
reach the CRM (with the card's line breaks).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from connectors.radicale_server import RadicaleServer, radicale  # noqa: F401
from syncline.config import Config, load_config
from syncline.engine import RunMode, RunOutcome, RunRequest, RunSummary, SyncEngine
from syncline.state.store import StateStore

CONFIG = """\
[state]
url = "sqlite:///state.db"

[endpoints.crm]
connector = "sql"
url = "{url}"
[endpoints.crm.streams.contact]
table = "people"
key = "person_id"
fields = {{ name = "full_name", email = "email_address", street = "street", notes = "notes" }}

{book}

[links.crm-book]
a = "crm"
b = "book"
streams = ["contact"]
match = {{ contact = ["email"] }}
"""

VDIR = '[endpoints.book]\nconnector = "vdir"\npath = "cards"\nfileext = ".vcf"'
CARDDAV = ('[endpoints.book]\nconnector = "carddav"\nurl = "{url}"\nusername = "alice"\n'
           'password = "env:DAV_PASSWORD"')

PEOPLE = [
    (1, "Ada Lovelace", "ada@example.com", "12 St James's Square\r\nFlat 3",
     "Met at the Royal Society.\r\nPrefers letters.\r\n"),
    (2, "Alan Turing", "alan@example.com", "Hollymeade\rWilmslow",
     "Bletchley Park\r\n\r\nManchester"),
    (3, "Grace Hopper", "grace@example.com", "Arlington", "one line\nand an LF one"),
]


@dataclass
class Scenario:
    config: Config
    store: StateStore
    crm: sa.Engine

    def sync(self, mode: RunMode = RunMode.INCREMENTAL) -> RunSummary:
        summary = SyncEngine(self.config, self.store).run(RunRequest("crm-book", mode=mode))
        assert summary.outcome is RunOutcome.OK, summary.messages
        return summary

    def rows(self) -> list[tuple[int, str, str, str, str]]:
        with self.crm.connect() as connection:
            return [tuple(row) for row in connection.execute(sa.text(
                "SELECT person_id, full_name, email_address, street, notes FROM people "
                "ORDER BY person_id"))]


def _written(summary: RunSummary) -> int:
    return sum(c.A + c.M + c.D + c.R + c.errors + c.conflicts for c in summary.streams.values())


def _scenario(tmp_path: Path, url: str, book: str) -> Iterator[Scenario]:
    (tmp_path / "syncline.toml").write_text(CONFIG.format(url=url, book=book))
    crm = sa.create_engine(url)
    with crm.begin() as connection:
        connection.execute(sa.text(
            "CREATE TABLE people (person_id integer PRIMARY KEY, full_name varchar(100), "
            "email_address varchar(100), street varchar(200), notes text)"))
        connection.execute(sa.text("INSERT INTO people VALUES (:id, :name, :email, :street, "
                                   ":notes)"),
                           [dict(zip(("id", "name", "email", "street", "notes"), person,
                                     strict=True)) for person in PEOPLE])
    store = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    yield Scenario(load_config(tmp_path / "syncline.toml"), store, crm)
    store.close()
    crm.dispose()


@pytest.fixture
def with_vdir(tmp_path: Path, postgres_url: str) -> Iterator[Scenario]:
    (tmp_path / "cards").mkdir()
    yield from _scenario(tmp_path, postgres_url, VDIR)


@pytest.fixture
def with_carddav(tmp_path: Path, postgres_url: str, radicale: RadicaleServer,  # noqa: F811
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[Scenario]:
    monkeypatch.setenv("DAV_PASSWORD", radicale.users["alice"])
    yield from _scenario(tmp_path, postgres_url,
                         CARDDAV.format(url=radicale.make_addressbook()))


def _check(scenario: Scenario, cards: Callable[[], list[str]]) -> None:
    first = scenario.sync()
    assert len(PEOPLE) == first.streams["contact"].A
    before = scenario.rows()
    assert before == list(PEOPLE)  # written to the card, not back to the CRM
    lines = {email: text.replace("\r\n ", "").split("\r\n") for text in cards()
             for email in ("ada@example.com", "alan@example.com") if email in text}
    assert not any("\r" in line or "\n" in line for card in lines.values() for line in card)
    assert "NOTE:Met at the Royal Society.\\nPrefers letters." in lines["ada@example.com"]
    assert "NOTE:Bletchley Park\\n\\nManchester" in lines["alan@example.com"]
    assert any("Hollymeade\\nWilmslow" in line for line in lines["alan@example.com"])
    for mode in (RunMode.FULL, RunMode.INCREMENTAL, RunMode.FULL):
        quiet = scenario.sync(mode)
        assert _written(quiet) == 0, quiet.streams
        assert scenario.store.journal("crm-book", run_id=quiet.run_id) == []
    assert scenario.rows() == before  # the CRM's CRLF values are kept as they are


def test_crlf_values_through_a_vdir_folder(with_vdir: Scenario, tmp_path: Path) -> None:
    cards = tmp_path / "cards"
    _check(with_vdir, _vdir_cards(cards))
    # an edit on the card reaches the CRM, with the card's line breaks
    (card,) = [path for path in cards.glob("*.vcf") if b"grace@example.com" in path.read_bytes()]
    text = card.read_bytes().decode()
    assert "one line\\nand an LF one" in text
    card.write_bytes(text.replace("one line\\nand an LF one", "edited\\non the card").encode())
    edited = with_vdir.sync()
    assert edited.streams["contact"].M == 1
    assert with_vdir.rows()[2][4] == "edited\non the card"
    assert _written(with_vdir.sync(RunMode.FULL)) == 0


def test_crlf_values_through_radicale(with_carddav: Scenario,
                                      radicale: RadicaleServer) -> None:  # noqa: F811
    _check(with_carddav, _dav_cards(radicale, with_carddav.config))


def _vdir_cards(folder: Path) -> Callable[[], list[str]]:
    """The texts of the cards of a vdir folder, as stored (CRLF kept)."""
    return lambda: [path.read_bytes().decode() for path in sorted(folder.glob("*.vcf"))]


def _dav_cards(server: RadicaleServer, config: Config) -> Callable[[], list[str]]:
    """The texts of the cards of the configured address book, fetched as a client would."""
    collection = str(config.endpoints["book"].settings["url"])

    def read() -> list[str]:
        with server.client() as http:
            listing = http.request("PROPFIND", collection, headers={"Depth": "1"})
            hrefs = [href for href in re.findall(r"<href>([^<]+)</href>", listing.text)
                     if not href.endswith("/")]
            return [http.get(httpx.URL(collection).join(href)).text for href in hrefs]

    return read
