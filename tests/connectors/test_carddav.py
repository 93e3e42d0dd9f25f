"""The ``carddav`` connector against a real Radicale server: the shared contract, and what
is particular to CardDAV (412 handling, expired sync-tokens, malformed cards, request
counts, unmapped properties, configuration, errors)."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.radicale_server import (  # noqa: F401 - radicale is a fixture
    DavContractHooks,
    DavEditor,
    FaultyProxy,
    RadicaleServer,
    radicale,
)
from syncline.config import load_config
from syncline.connectors import connector_class
from syncline.connectors.base import (
    Capability,
    ReadScope,
    WriteBatch,
    WriteKind,
    WriteOperation,
)
from syncline.connectors.dav import CardDavConnector
from syncline.engine.sync import open_endpoint
from syncline.errors import (
    AuthenticationFailed,
    ConfigError,
    MalformedRecord,
    ProtocolError,
    VersionConflict,
)
from syncline.testing import ConnectorContract, FieldMaker

PEOPLE = [("Margaret", "Hughes"), ("Oliver", "Bennett"), ("Priya", "Sharma"),
          ("Tomasz", "Nowak"), ("Aoife", "Byrne"), ("Kwame", "Mensah"), ("Lucía", "Fernández"),
          ("Hannah", "Schmidt"), ("Dmitri", "Volkov"), ("Sophie", "Laurent")]
CITIES = ["London", "Manchester", "Leeds", "Bristol", "Glasgow", "Cardiff", "Belfast"]


def person(n: int) -> dict[str, Any]:
    first, last = PEOPLE[n % len(PEOPLE)]
    return {"name": f"{first} {last}", "first_name": first, "last_name": last,
            "email": f"{first.lower()}.{last.lower()}{n}@hughes-partners.co.uk",
            "phone": f"+44 20 7946 {n:04d}", "city": CITIES[n % len(CITIES)]}


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;")


def render_card(uid: str, fields: dict[str, Any], extra: str) -> str:
    """A vCard as a phone would write it."""
    return ("BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//Phone//Contacts//EN\r\n"
            f"UID:{uid}\r\nFN:{_escape(fields['name'])}\r\n"
            f"N:{_escape(fields['last_name'])};{_escape(fields['first_name'])};;;\r\n"
            f"EMAIL;TYPE=INTERNET,WORK:{fields['email']}\r\n"
            f"TEL;TYPE=WORK,VOICE:{fields['phone']}\r\n"
            f"ADR;TYPE=WORK:;;;{_escape(fields['city'])};;;United Kingdom\r\n"
            f"{extra}END:VCARD\r\n")


NESTED = ("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:broken\r\nFN:Ada Lovelace\r\n"
          "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Charles Babbage\r\nEND:VCARD\r\nEND:VCARD\r\n")
"""A card nesting another (vCard 2.1's AGENT): Radicale takes it, syncline's parser does
not."""


def connect(radicale: RadicaleServer, url: str, tmp_path: Path,  # noqa: F811
            **settings: Any) -> CardDavConnector:
    connector = CardDavConnector("addressbook", {
        "url": url, "username": "alice", "password": radicale.users["alice"],
        "state_dir": str(tmp_path / "state"), **settings}, tmp_path)
    connector.open()
    return connector


class TestCardDavContact(DavContractHooks, ConnectorContract):
    stream = "contact"
    page_size = 5
    malformed = NESTED
    malformed_problem = "BEGIN:VCARD inside an item"

    @pytest.fixture
    def book(self, radicale: RadicaleServer) -> str:  # noqa: F811
        return radicale.make_addressbook()

    @pytest.fixture
    def connector(self, radicale: RadicaleServer, book: str,  # noqa: F811
                  tmp_path: Path) -> Iterator[CardDavConnector]:
        connector = connect(radicale, book, tmp_path, multiget_batch_size=self.page_size)
        yield connector
        connector.close()
        assert connector.item_errors == []

    @pytest.fixture
    def make_fields(self) -> FieldMaker:
        return person

    @pytest.fixture
    def outside(self, radicale: RadicaleServer, book: str) -> Iterator[DavEditor]:  # noqa: F811
        editor = DavEditor(radicale, book, ".vcf", render_card)
        yield editor
        editor.close()


class TestCardDavContactByCtag(TestCardDavContact):
    """The same contract, reading changes through getctag and ETag listings (servers
    without sync-collection). An ETag listing keeps no trace of an item created *and*
    deleted between two reads (sync-collection does)."""

    reports_short_lived_deletions = False

    @pytest.fixture
    def connector(self, radicale: RadicaleServer, book: str,  # noqa: F811
                  tmp_path: Path) -> Iterator[CardDavConnector]:
        connector = connect(radicale, book, tmp_path, multiget_batch_size=self.page_size,
                            incremental="ctag")
        assert not connector.site("contact").sync_collection
        yield connector
        connector.close()
        assert connector.item_errors == []


# -- particular to CardDAV ------------------------------------------------------------------
ISSUE_EXAMPLE = """\
[endpoints.crm]
connector = "memory"
name = "{store}"
streams = {{ contact = {{ fields = ["name", "email"] }} }}

[endpoints.addressbook]
connector = "carddav"
url = "http://127.0.0.1:5232/alice/contacts/"   # a collection, or a principal / server \
root to discover from
username = "alice"
password = "env:DAV_PASSWORD"

[endpoints.folder]
connector = "vdir"
path = "contacts"          # relative to the config file
fileext = ".vcf"

[links.crm-addressbook]
a = "crm"
b = "addressbook"
streams = ["contact"]
match = {{ contact = ["email"] }}
"""




def op(kind: WriteKind, key: str | None = None, fields: dict[str, Any] | None = None,
       expected: str | None = None) -> WriteOperation:
    return WriteOperation(uuid.uuid4().hex, kind, key, fields, expected)


def write(connector: CardDavConnector, *operations: WriteOperation,
          stream: str = "contact") -> list[Any]:
    return connector.write(WriteBatch(uuid.uuid4().hex, stream, list(operations)))


@pytest.fixture
def book(radicale: RadicaleServer) -> str:  # noqa: F811
    return radicale.make_addressbook()


@pytest.fixture
def contacts(radicale: RadicaleServer, book: str,  # noqa: F811
             tmp_path: Path) -> Iterator[CardDavConnector]:
    connector = connect(radicale, book, tmp_path, multiget_batch_size=4)
    yield connector
    connector.close()


@pytest.fixture
def editor(radicale: RadicaleServer, book: str) -> Iterator[DavEditor]:  # noqa: F811
    found = DavEditor(radicale, book, ".vcf", render_card)
    yield found
    found.close()


class Requests:
    """Counts the requests a connector sends, through an httpx event hook on its real
    client: ``(method, what)`` with ``what`` the REPORT kind (``sync-collection``,
    ``addressbook-multiget``...) or the URL path."""

    def __init__(self, connector: CardDavConnector) -> None:
        self.seen: list[tuple[str, str]] = []
        connector.http.http.event_hooks["request"].append(self.hook)

    def hook(self, request: httpx.Request) -> None:
        what = request.url.path
        if request.method == "REPORT":
            for kind in ("sync-collection", "addressbook-multiget", "calendar-multiget"):
                if f":{kind}".encode() in request.content:
                    what = kind
        self.seen.append((request.method, what))

    def take(self) -> list[tuple[str, str]]:
        seen, self.seen = self.seen, []
        return seen


def test_config_as_in_the_issue(radicale: RadicaleServer, tmp_path: Path,  # noqa: F811
                                monkeypatch: pytest.MonkeyPatch) -> None:
    radicale.make_addressbook("alice", "contacts")
    text = ISSUE_EXAMPLE.format(store=f"crm-{uuid.uuid4().hex}").replace(
        "http://127.0.0.1:5232/", radicale.url)
    (tmp_path / "syncline.toml").write_text(text)
    monkeypatch.setenv("DAV_PASSWORD", radicale.users["alice"])
    config = load_config(tmp_path / "syncline.toml")
    connector = open_endpoint(config, "addressbook")
    assert isinstance(connector, CardDavConnector)
    connector.open()
    try:
        assert list(connector.streams()) == ["contact"]
        assert {"name", "first_name", "email", "phone", "city"} <= \
            connector.field_names("contact")
        assert connector.site("contact").collection.url == f"{radicale.url}alice/contacts/"
        assert connector.site("contact").collection.display_name == "Contacts"
    finally:
        connector.close()
    monkeypatch.delenv("DAV_PASSWORD")
    with pytest.raises(ConfigError, match="DAV_PASSWORD"):
        open_endpoint(config, "addressbook").open()


@pytest.mark.parametrize(("settings", "key", "words"), [
    ({}, "endpoints.book.url", "required"),
    ({"url": "ftp://x/"}, "endpoints.book.url", "http"),
    ({"url": "http://x/", "pasword": "p"}, "endpoints.book.pasword", "did you mean 'password'"),
    ({"url": "http://x/", "streams": ["event"]}, "endpoints.book.streams", "contact"),
    ({"url": "http://x/", "timeout": 0}, "endpoints.book.timeout", "greater than 0"),
    ({"url": "http://x/", "incremental": "etags"}, "endpoints.book.incremental", "ctag"),
])
def test_bad_settings(settings: dict[str, Any], key: str, words: str) -> None:
    with pytest.raises(ConfigError) as raised:
        CardDavConnector.validate_settings("book", settings)
    assert raised.value.key == key
    assert words in str(raised.value)


def test_registered_and_described_before_opening(tmp_path: Path) -> None:
    assert connector_class("carddav") is CardDavConnector
    assert connector_class("caldav").__name__ == "CalDavConnector"
    unopened = CardDavConnector("book", {"url": "http://127.0.0.1:9/x/"}, tmp_path)
    assert "email" in unopened.field_names("contact")
    with pytest.raises(ProtocolError, match="organisation"):
        unopened.field_names("organisation")  # not configured


def test_no_change_sends_one_report_and_no_fetch(contacts: CardDavConnector,
                                                 editor: DavEditor) -> None:
    keys = [r.key for r in write(contacts, *(op(WriteKind.CREATE, fields=person(n))
                                             for n in range(6)))]
    cursor = contacts.current_cursor("contact")
    assert cursor is not None
    requests = Requests(contacts)
    feed = contacts.read_changes("contact", cursor, ReadScope())
    assert [c for page in feed.pages for c in page] == []
    assert requests.take() == [("REPORT", "sync-collection")]

    editor.update(str(keys[2]), person(12))  # someone else changes one card
    assert feed.cursor is not None
    feed = contacts.read_changes("contact", feed.cursor, ReadScope())
    assert [c.key for page in feed.pages for c in page] == [keys[2]]
    assert requests.take() == [("REPORT", "sync-collection"),
                               ("REPORT", "addressbook-multiget")]

    # a full read: one listing, then one multiget per batch of 4, never a GET per card
    assert len([r for page in contacts.read_all("contact", ReadScope()) for r in page]) == 6
    assert requests.take() == [("PROPFIND", contacts.site("contact").path),
                               ("REPORT", "addressbook-multiget"),
                               ("REPORT", "addressbook-multiget")]


def test_count_lists_once_for_the_full_read_that_follows(contacts: CardDavConnector,
                                                        editor: DavEditor) -> None:
    """The engine asks for the count before a full read: that listing is the one the full
    read uses; our writes keep the count; an incremental read forgets it."""
    write(contacts, *(op(WriteKind.CREATE, fields=person(n)) for n in range(3)))
    requests = Requests(contacts)
    assert contacts.count("contact") == 3
    assert requests.take() == [("REPORT", "sync-collection")]
    cursor = contacts.current_cursor("contact")
    assert cursor is not None
    assert requests.take() == [("REPORT", "addressbook-multiget")]  # no second listing
    assert len([r for page in contacts.read_all("contact", ReadScope()) for r in page]) == 3
    assert contacts.count("contact") == 3 and requests.take() == []
    first, second = write(contacts, op(WriteKind.CREATE, fields=person(4)),
                          op(WriteKind.CREATE, fields=person(5)))
    (deleted,) = write(contacts, op(WriteKind.DELETE, str(first.key)))
    assert second.ok and deleted.ok
    editor.create(person(6))  # someone else adds one: seen once the count is listed again
    assert contacts.count("contact") == 4  # ours counted, theirs not known yet
    feed = contacts.read_changes("contact", cursor, ReadScope())
    assert [c for page in feed.pages for c in page]
    requests.take()
    assert contacts.count("contact") == 5
    assert requests.take() == [("REPORT", "sync-collection")]


def test_expired_token_asks_for_a_full_read(contacts: CardDavConnector,
                                            caplog: pytest.LogCaptureFixture) -> None:
    cursor = contacts.current_cursor("contact")
    assert cursor is not None and cursor.startswith("sync:")
    corrupt = cursor[:-12] + "0" * 12
    with caplog.at_level("WARNING", "syncline.connectors.dav"), \
            pytest.raises(ProtocolError, match="no longer valid") as raised:
        contacts.read_changes("contact", corrupt, ReadScope())
    assert "valid-sync-token" in str(raised.value) and "read in full" in str(raised.value)
    assert "no longer valid" in caplog.text
    with pytest.raises(ProtocolError, match="not a cursor"):
        contacts.read_changes("contact", "snap:1234", ReadScope())


def test_lost_ctag_snapshot_asks_for_a_full_read(radicale: RadicaleServer,  # noqa: F811
                                                 book: str, tmp_path: Path) -> None:
    connector = connect(radicale, book, tmp_path, incremental="ctag")
    cursor = connector.current_cursor("contact")
    assert cursor is not None and cursor.startswith("ctag:")
    requests = Requests(connector)
    assert [c for p in connector.read_changes("contact", cursor, ReadScope()).pages
            for c in p] == []
    assert requests.take() == [("PROPFIND", connector.site("contact").path)]  # ctag only
    shutil.rmtree(tmp_path / "state")
    with pytest.raises(ProtocolError, match="read in full"):
        connector.read_changes("contact", cursor, ReadScope())
    connector.close()


def test_malformed_card_is_an_item_error_and_deletes_nothing(
        contacts: CardDavConnector, editor: DavEditor) -> None:
    keys = [str(r.key) for r in write(contacts, *(op(WriteKind.CREATE, fields=person(n))
                                                  for n in range(3)))]
    cursor = contacts.current_cursor("contact")
    assert cursor is not None
    editor.put("broken.vcf", NESTED)
    feed = contacts.read_changes("contact", cursor, ReadScope())
    assert [c for page in feed.pages for c in page] == []
    (error,) = contacts.item_errors
    assert isinstance(error, MalformedRecord) and error.key == "broken.vcf"
    assert f"{editor.collection}broken.vcf" in str(error) and "inside an item" in str(error)
    assert not contacts.streams()["contact"] & Capability.DETECT_DELETES
    assert not contacts.in_key_range("contact", "broken.vcf", ReadScope())
    read = [r.key for page in contacts.read_all("contact", ReadScope()) for r in page]
    assert sorted(read) == sorted(keys)

    contacts.item_errors.clear()  # every incremental read reports it again ...
    assert feed.cursor is not None
    feed = contacts.read_changes("contact", feed.cursor, ReadScope())
    assert [c for page in feed.pages for c in page] == []
    assert [e.key for e in contacts.item_errors] == ["broken.vcf"]
    editor.put("broken.vcf", render_card("broken", person(7), ""))  # ... until fixed
    assert feed.cursor is not None
    feed = contacts.read_changes("contact", feed.cursor, ReadScope())
    (change,) = [c for page in feed.pages for c in page]
    assert change.key == "broken.vcf" and change.record is not None
    assert change.record.fields["email"] == person(7)["email"]
    assert contacts.streams()["contact"] & Capability.DETECT_DELETES

    editor.put("broken.vcf", NESTED)  # broken again, found by a full read, then removed
    contacts.current_cursor("contact")
    assert not contacts.streams()["contact"] & Capability.DETECT_DELETES
    assert len([r for page in contacts.read_all("contact", ReadScope()) for r in page]) == 3
    editor.delete("broken.vcf")
    assert sorted(r.key for page in contacts.read_all("contact", ReadScope())
                  for r in page) == sorted(keys)
    assert contacts.streams()["contact"] & Capability.DETECT_DELETES


def test_update_keeps_unmapped_properties(contacts: CardDavConnector,
                                          editor: DavEditor) -> None:
    extra = ("PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJ\r\n"
             "X-ABLABEL;X-SERVICE=phone:Assistant\r\n"
             "item1.X-ABRELATEDNAMES;TYPE=pref:Jane Hughes\r\n"
             "X-SYNCLINE-TEST:kept\r\n")
    uid = "3F2504E0-4F89-11D3-9A0C-0305E82C3301"
    editor.put(f"{uid}.vcf", render_card(uid, person(1), extra), **{"If-None-Match": "*"})
    key = f"{uid}.vcf"
    (result,) = write(contacts, op(WriteKind.UPDATE, key, {"email": "oliver@bennett.example",
                                                          "title": "Finance Director"}))
    assert result.ok, result.error
    text = editor.get(key)
    unfolded = text.replace("\r\n ", "").replace("\n ", "")
    assert "oliver@bennett.example" in unfolded and "TITLE:Finance Director" in unfolded
    assert "EMAIL;TYPE=INTERNET,WORK:oliver@bennett.example" in unfolded  # parameters kept
    for line in ("PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJ",
                 "X-ABLABEL;X-SERVICE=phone:Assistant",
                 "item1.X-ABRELATEDNAMES;TYPE=pref:Jane Hughes", "X-SYNCLINE-TEST:kept",
                 "PRODID:-//Phone//Contacts//EN", "TEL;TYPE=WORK,VOICE:+44 20 7946 0001"):
        assert line in unfolded, line


def test_stale_writes_are_version_conflicts(contacts: CardDavConnector,
                                            editor: DavEditor) -> None:
    first, second = write(contacts, op(WriteKind.CREATE, fields=person(1)),
                          op(WriteKind.CREATE, fields=person(2)))
    editor.update(first.key, person(11))
    editor.update(second.key, person(12))
    results = write(contacts, op(WriteKind.UPDATE, first.key, {"title": "CFO"}, first.version),
                    op(WriteKind.DELETE, second.key, expected=second.version))
    assert all(isinstance(r.error, VersionConflict) for r in results), results
    assert "CFO" not in editor.get(first.key)
    assert editor.get(second.key)  # not deleted

    # a 412 from the server itself: the card changes between our read and our PUT
    current = contacts.read_keys("contact", [first.key])[first.key]
    real_put = contacts.http.put

    def racing_put(url: str, body: bytes, content_type: str, *, etag: str | None = None) -> Any:
        editor.update(first.key, person(21))
        return real_put(url, body, content_type, etag=etag)

    contacts.http.put = racing_put  # type: ignore[method-assign]
    (raced,) = write(contacts, op(WriteKind.UPDATE, first.key, {"title": "CFO"},
                                  current.version))
    contacts.http.put = real_put  # type: ignore[method-assign]
    assert isinstance(raced.error, VersionConflict) and "412" in str(raced.error)
    assert person(21)["email"] in editor.get(first.key)


def test_organisations_are_kind_org_cards(radicale: RadicaleServer, book: str,  # noqa: F811
                                          tmp_path: Path, editor: DavEditor) -> None:
    both = connect(radicale, book, tmp_path, streams=["contact", "organisation"])
    (org,) = write(both, op(WriteKind.CREATE, fields={"name": "Acme Ltd",
                                                      "website": "https://acme.example"}),
                   stream="organisation")
    (person_card,) = write(both, op(WriteKind.CREATE, fields=person(1)))
    assert org.ok and person_card.ok
    assert "KIND:org" in editor.get(org.key).replace("KIND:ORG", "KIND:org")
    organisations = [r for page in both.read_all("organisation", ReadScope()) for r in page]
    people = [r for page in both.read_all("contact", ReadScope()) for r in page]
    assert [r.key for r in organisations] == [org.key]
    assert organisations[0].fields["name"] == "Acme Ltd"
    assert [r.key for r in people] == [person_card.key]
    both.close()


def test_wrong_password_is_authentication_failed(radicale: RadicaleServer,  # noqa: F811
                                                 book: str, tmp_path: Path) -> None:
    connector = CardDavConnector("addressbook", {"url": book, "username": "alice",
                                                 "password": "not-my-password"}, tmp_path)
    with pytest.raises(AuthenticationFailed) as raised:
        connector.open()
    message = str(raised.value)
    assert "addressbook" in message and book in message and "alice" in message
    assert "not-my-password" not in message
    connector.close()


def test_recover_a_batch_interrupted_half_way(contacts: CardDavConnector) -> None:
    (first,) = write(contacts, op(WriteKind.CREATE, fields=person(1)))
    batch = WriteBatch("half-way", "contact", [
        op(WriteKind.UPDATE, first.key, person(2)), op(WriteKind.CREATE, fields=person(3)),
        op(WriteKind.DELETE, first.key)])
    real_put, calls = contacts.http.put, []

    def dying(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[0])
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process dies before the second request
        return real_put(*args, **kwargs)

    contacts.http.put = dying  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        contacts.write(batch)
    contacts.http.put = real_put  # type: ignore[method-assign]
    recovered = contacts.recover(batch)
    assert recovered is not None
    assert recovered[0].ok and recovered[0].key == first.key
    assert recovered[0].version != first.version
    assert not recovered[1].ok and not recovered[2].ok
    assert list(contacts.read_keys("contact", [first.key])) == [first.key]


def test_discovered_from_the_server_root(radicale: RadicaleServer,  # noqa: F811
                                         tmp_path: Path) -> None:
    settings = {"url": radicale.url, "username": "bob", "password": radicale.users["bob"],
                "state_dir": str(tmp_path / "state")}
    lone = radicale.make_addressbook("bob", "people", "People")
    connector = CardDavConnector("addressbook", settings, tmp_path)
    connector.open()
    assert connector.site("contact").collection.url == lone
    connector.close()
    radicale.make_addressbook("bob", "suppliers", "Suppliers")
    with pytest.raises(ConfigError, match="2 address books") as raised:
        CardDavConnector("addressbook", settings, tmp_path).open()
    assert lone in str(raised.value) and "syncline discover" in str(raised.value)
    itself = CardDavConnector("addressbook", {**settings, "url": f"{radicale.url}bob/people/"},
                              tmp_path)
    itself.open()
    assert itself.site("contact").collection.url == lone
    itself.close()
    typo = CardDavConnector("addressbook", {**settings, "url": f"{radicale.url}bob/peple/"},
                            tmp_path)
    with pytest.raises(ConfigError, match="does not exist") as raised:
        typo.open()
    assert raised.value.key == "endpoints.addressbook.url"
    typo.close()



# -- a server in trouble (a proxy answering for Radicale) ----------------------------------------
def test_507_refuses_items_and_the_rest_goes_on(radicale: RadicaleServer,  # noqa: F811
                                                book: str, tmp_path: Path,
                                                editor: DavEditor) -> None:
    with FaultyProxy(radicale.url) as proxy:
        contacts = connect(radicale, proxy.via(book), tmp_path)
        kept, gone = write(contacts, op(WriteKind.CREATE, fields=person(1)),
                           op(WriteKind.CREATE, fields=person(2)))
        proxy.full = True
        proxy.requests.clear()
        new, updated, deleted, later = write(
            contacts, op(WriteKind.CREATE, fields=person(3)),
            op(WriteKind.UPDATE, kept.key, {"title": "CFO"}),
            op(WriteKind.DELETE, gone.key), op(WriteKind.CREATE, fields=person(4)))
        contacts.close()
    assert new.error is not None and type(new.error) is not VersionConflict
    assert new.error.retriable and "507" in str(new.error) and "quota" in str(new.error)
    assert "no room" in str(new.error)
    for refused in (updated, later):  # not even sent once the server said it is full
        assert refused.error is not None and refused.error.retriable
        assert "not sent" in str(refused.error)
    assert deleted.ok, deleted.error  # deletes free room: they still go
    assert [method for method, _ in proxy.requests if method in ("PUT", "DELETE")] \
        == ["PUT", "DELETE"]
    folder = radicale.storage / "collection-root" / "alice" / book.rstrip("/").rsplit("/")[-1]
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) \
        == [kept.key]  # the refused cards were not stored, the deleted one is gone
    assert "CFO" not in editor.get(str(kept.key))
    assert editor.http.get(editor.url(str(gone.key))).status_code == 404


def test_truncated_sync_collection_answers_are_followed(
        radicale: RadicaleServer, book: str, tmp_path: Path,  # noqa: F811
        editor: DavEditor) -> None:
    with FaultyProxy(radicale.url) as proxy:
        contacts = connect(radicale, proxy.via(book), tmp_path)
        cursor = contacts.current_cursor("contact")
        assert cursor is not None
        keys = {editor.create(person(n)) for n in range(3)}
        proxy.truncate = 1
        proxy.requests.clear()
        feed = contacts.read_changes("contact", cursor, ReadScope())
        found = {c.key for page in feed.pages for c in page}
        contacts.close()
    assert found == keys
    reports = [path for method, path in proxy.requests if method == "REPORT"]
    assert len(reports) == 3  # sync-collection, again from the token given, multiget
