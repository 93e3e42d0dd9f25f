"""Defect 5 of issue 13: a contact's ``organisation`` mapped to a SQL foreign key
(``org_id``) never reaches a groupware card as a raw id.

A CRM database (SQLite, PostgreSQL, MariaDB) with ``people.org_id`` referencing
``organisations`` is synced with a vdir folder and with a real Radicale address book. Every
card's ``ORG`` holds the organisation's name; an ORG typed on a card is written back as the
key of the organisation with that name; an ORG naming no organisation is refused with a
warning naming the field, and the name edited in the same card still goes through.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from connectors.radicale_server import RadicaleServer, radicale  # noqa: F401
from syncline.config import Config, load_config
from syncline.engine import RunOutcome, RunRequest, SyncEngine
from syncline.engine.sync import open_endpoint
from syncline.state.store import StateStore

ORGS = ["Acme Ltd", "Globex", "Initech"]
PEOPLE = [("Ada Lovelace", "ada@example.com", 1), ("Alan Turing", "alan@example.com", 2),
          ("Grace Hopper", "grace@example.com", None)]

CONFIG = """\
[state]
url = "sqlite:///state.db"

[endpoints.crm]
connector = "sql"
url = "{url}"
[endpoints.crm.streams.contact]
table = "people"
key = "person_id"
fields = {{ name = "full_name", email = "email_address", organisation = "org_id" }}
{orgs}

{book}

[links.crm-book]
a = "crm"
b = "book"
streams = {streams}
match = {match}
"""

ORG_STREAM = """[endpoints.crm.streams.organisation]
table = "organisations"
key = "org_id"
fields = { name = "org_name" }"""

VDIR = '[endpoints.book]\nconnector = "vdir"\npath = "cards"\nfileext = ".vcf"'
CARDDAV = ('[endpoints.book]\nconnector = "carddav"\nurl = "{url}"\nusername = "alice"\n'
           'password = "env:DAV_PASSWORD"')


def _schema(url: str) -> sa.Engine:
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    sa.Table("organisations", meta,
             sa.Column("org_id", sa.Integer, primary_key=True, autoincrement=True),
             sa.Column("org_name", sa.String(100), nullable=False))
    sa.Table("people", meta,
             sa.Column("person_id", sa.Integer, primary_key=True, autoincrement=True),
             sa.Column("full_name", sa.String(100), nullable=False),
             sa.Column("email_address", sa.String(100)),
             sa.Column("org_id", sa.Integer, sa.ForeignKey("organisations.org_id")))
    meta.create_all(engine)
    with engine.begin() as conn:
        for number, name in enumerate(ORGS, start=1):
            conn.execute(sa.text("INSERT INTO organisations (org_id, org_name) VALUES "
                                 "(:id, :name)"), {"id": number, "name": name})
        for number, (name, email, org) in enumerate(PEOPLE, start=1):
            conn.execute(sa.text("INSERT INTO people (person_id, full_name, email_address, "
                                 "org_id) VALUES (:id, :name, :email, :org)"),
                         {"id": number, "name": name, "email": email, "org": org})
    return engine


class Cards:
    """The cards of the other side, read and edited as another client would (files of the
    vdir folder, or plain WebDAV requests to Radicale)."""

    def __init__(self, folder: Path | None, server: RadicaleServer | None,
                 collection: str | None) -> None:
        self.folder, self.server, self.collection = folder, server, collection

    def texts(self) -> dict[str, str]:
        if self.folder is not None:
            return {path.name: path.read_text().replace("\r\n ", "")
                    for path in sorted(self.folder.glob("*.vcf"))}
        assert self.server is not None and self.collection is not None
        with self.server.client() as http:
            listing = http.request("PROPFIND", self.collection, headers={"Depth": "1"})
            found = {}
            for href in re.findall(r"<href>([^<]+)</href>", listing.text):
                if not href.endswith("/"):
                    answer = http.get(httpx.URL(self.collection).join(href))
                    found[href.rsplit("/", 1)[1]] = answer.text.replace("\r\n ", "")
            return found

    def edit(self, email: str, changes: dict[str, str]) -> None:
        """Set the ``changes`` (property -> value) of the card holding ``email``."""
        for name, text in self.texts().items():
            if f":{email}" not in text:
                continue
            for prop, value in changes.items():
                if re.search(rf"^{prop}[;:]", text, flags=re.M):
                    text = re.sub(rf"^{prop}[;:][^\r\n]*", f"{prop}:{value}", text,
                                  count=1, flags=re.M)
                else:
                    text = text.replace("END:VCARD", f"{prop}:{value}\r\nEND:VCARD")
            if self.folder is not None:
                (self.folder / name).write_text(text)
                return
            assert self.server is not None and self.collection is not None
            with self.server.client() as http:
                answer = http.put(httpx.URL(self.collection).join(name), content=text,
                                  headers={"Content-Type": "text/vcard; charset=utf-8"})
                assert answer.status_code in (200, 201, 204), answer.text
            return
        raise AssertionError(f"no card holds {email}")


@dataclass
class Scenario:
    config: Config
    store: StateStore
    crm: sa.Engine
    cards: Cards

    def sync(self) -> Any:
        summary = SyncEngine(self.config, self.store).run(RunRequest("crm-book"))
        assert summary.outcome in (RunOutcome.OK, RunOutcome.WARNING), summary.messages
        return summary

    def orgs_on_cards(self) -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        for text in self.cards.texts().values():
            if "KIND:org" in text or "X-ABShowAs:COMPANY" in text:
                continue
            email = re.search(r"^EMAIL[^:\r\n]*:(\S+)", text, flags=re.M)
            org = re.search(r"^ORG[^:\r\n]*:([^\r\n]*)", text, flags=re.M)
            assert email is not None
            found[email.group(1)] = org.group(1).rstrip(";") if org else None
        return found

    def person(self, email: str) -> tuple[str, int | None]:
        with self.crm.connect() as conn:
            row = conn.execute(sa.text("SELECT full_name, org_id FROM people WHERE "
                                       "email_address = :email"), {"email": email}).one()
        return str(row[0]), (int(row[1]) if row[1] is not None else None)


DATABASES = ["sqlite", "postgres", "mariadb"]


@pytest.fixture(params=DATABASES)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'crm.db'}"
    return str(request.getfixturevalue(f"{request.param}_url"))


def _scenario(tmp_path: Path, url: str, book: str, cards: Cards,
              streams: str = '["contact"]', orgs: str = ORG_STREAM,
              match: str = '{ contact = ["email"] }') -> Iterator[Scenario]:
    (tmp_path / "syncline.toml").write_text(CONFIG.format(url=url, book=book, orgs=orgs,
                                                          streams=streams, match=match))
    crm = _schema(url)
    config = load_config(tmp_path / "syncline.toml")
    endpoint = open_endpoint(config, "crm")
    endpoint.open()
    endpoint.setup(["contact", "organisation"] if orgs else ["contact"])
    endpoint.close()
    store = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    yield Scenario(config, store, crm, cards)
    store.close()
    crm.dispose()


@pytest.fixture
def with_vdir(tmp_path: Path, database: str) -> Iterator[Scenario]:
    (tmp_path / "cards").mkdir()
    yield from _scenario(tmp_path, database, VDIR, Cards(tmp_path / "cards", None, None))


@pytest.fixture
def with_carddav(tmp_path: Path, database: str, radicale: RadicaleServer,  # noqa: F811
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[Scenario]:
    monkeypatch.setenv("DAV_PASSWORD", radicale.users["alice"])
    book = radicale.make_addressbook()
    yield from _scenario(tmp_path, database, CARDDAV.format(url=book),
                         Cards(None, radicale, book))


def _check_org_round_trip(scenario: Scenario) -> None:
    scenario.sync()
    assert scenario.orgs_on_cards() == {"ada@example.com": "Acme Ltd",
                                        "alan@example.com": "Globex",
                                        "grace@example.com": None}
    # a known organisation typed on a card is written back as its key; the name goes too
    scenario.cards.edit("ada@example.com", {"ORG": "initech ", "FN": "Ada King"})
    summary = scenario.sync()
    assert scenario.person("ada@example.com") == ("Ada King", 3)
    # the card keeps its own spelling of the organisation, and nothing more happens
    quiet = scenario.sync()
    assert sum(c.A + c.M + c.D + c.R for c in quiet.streams.values()) == 0
    assert (scenario.orgs_on_cards()["ada@example.com"] or "").strip() == "initech"
    # an unknown organisation is refused with a warning; the name edit in that card goes
    scenario.cards.edit("alan@example.com", {"ORG": "Umbrella Corp", "FN": "Alan M. Turing"})
    summary = scenario.sync()
    assert summary.outcome is RunOutcome.WARNING, summary.messages
    assert scenario.person("alan@example.com") == ("Alan M. Turing", 2)
    warnings = [row for row in scenario.store.journal("crm-book", limit=None,
                                                      run_id=summary.run_id)
                if row["outcome"] == "warning"]
    assert len(warnings) == 1
    assert "organisation 'Umbrella Corp' was not written" in warnings[0]["message"]
    assert "no organisation there has that name" in warnings[0]["message"]
    # nothing is left to do, and no card ever held a raw id
    quiet = scenario.sync()
    assert sum(c.A + c.M + c.D + c.R for c in quiet.streams.values()) == 0
    assert not any(org is not None and org.isdigit()
                   for org in scenario.orgs_on_cards().values())


def test_vdir_cards_hold_organisation_names(with_vdir: Scenario) -> None:
    _check_org_round_trip(with_vdir)


def test_carddav_cards_hold_organisation_names(with_carddav: Scenario) -> None:
    _check_org_round_trip(with_carddav)


def test_cards_and_organisation_cards_when_the_link_syncs_organisations(
        tmp_path: Path, radicale: RadicaleServer,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The link syncs the organisations too (as organisation cards in the same book): a
    person's ORG still holds the name, and the organisations arrive as cards."""
    monkeypatch.setenv("DAV_PASSWORD", radicale.users["alice"])
    book = radicale.make_addressbook()
    setting = CARDDAV.format(url=book) + '\nstreams = ["organisation", "contact"]'
    for scenario in _scenario(tmp_path, f"sqlite:///{tmp_path / 'crm.db'}", setting,
                              Cards(None, radicale, book), '["organisation", "contact"]',
                              match='{ contact = ["email"], organisation = ["name"] }'):
        scenario.sync()
        assert scenario.orgs_on_cards() == {"ada@example.com": "Acme Ltd",
                                            "alan@example.com": "Globex",
                                            "grace@example.com": None}
        texts = scenario.cards.texts().values()
        assert sum(1 for text in texts if "KIND:org" in text or "COMPANY" in text) == 3
        scenario.cards.edit("grace@example.com", {"ORG": "Globex"})
        scenario.sync()
        assert scenario.person("grace@example.com") == ("Grace Hopper", 2)


def test_a_reference_that_cannot_be_resolved_is_left_out(tmp_path: Path) -> None:
    """The database does not map the organisations: ORG cannot be resolved either way, so
    the field is not synced and the run says why."""
    (tmp_path / "cards").mkdir()
    for scenario in _scenario(tmp_path, f"sqlite:///{tmp_path / 'crm.db'}", VDIR,
                              Cards(tmp_path / "cards", None, None), orgs=""):
        summary = scenario.sync()
        assert scenario.orgs_on_cards() == dict.fromkeys(
            ["ada@example.com", "alan@example.com", "grace@example.com"])
        assert any("organisation is not synced" in message
                   and "does not map the organisation stream" in message
                   for message in summary.messages), summary.messages
        scenario.cards.edit("ada@example.com", {"ORG": "Acme Ltd", "FN": "Ada King"})
        scenario.sync()
        assert scenario.person("ada@example.com") == ("Ada King", 1)
