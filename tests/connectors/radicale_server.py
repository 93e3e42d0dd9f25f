"""A real Radicale CardDAV/CalDAV server for tests, started as a subprocess.

:func:`running_radicale` starts ``python -m radicale`` on 127.0.0.1 on a free port with
htpasswd authentication (a plain htpasswd file) and a storage folder of its own, waits until
it answers, and stops it afterwards. :class:`RadicaleServer` makes collections with
``MKCOL`` / ``MKCALENDAR`` and hands out plain ``httpx`` clients for checking what the
server holds without the connector.

The fixture ``radicale`` (module-scoped) is imported by the test modules that need it::

    from connectors.radicale_server import radicale  # noqa: F401 - a fixture
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import unquote

import httpx
import pytest

from connectors.fault_proxy import FaultyProxy

if TYPE_CHECKING:
    from syncline.connectors.base import Connector

__all__ = [
    "USERS",
    "DavContractHooks",
    "DavEditor",
    "FaultyProxy",
    "RadicaleServer",
    "make_certificates",
    "radicale",
    "running_radicale",
]

USERS = {"alice": "wonder land", "bob": "builder-42"}
"""The accounts of the test server: user name -> password."""

_ADDRESSBOOK_BODY = """<?xml version="1.0" encoding="utf-8"?>
<D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">
  <D:set><D:prop>
    <D:resourcetype><D:collection/><C:addressbook/></D:resourcetype>
    <D:displayname>{name}</D:displayname>
  </D:prop></D:set>
</D:mkcol>"""

_CALENDAR_BODY = """<?xml version="1.0" encoding="utf-8"?>
<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:set><D:prop>
    <D:displayname>{name}</D:displayname>
    <C:supported-calendar-component-set>{components}</C:supported-calendar-component-set>
  </D:prop></D:set>
</C:mkcalendar>"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RadicaleServer:
    """A running Radicale: its base ``url`` (ending with ``/``), its storage folder and
    its accounts."""

    url: str
    storage: Path
    process: subprocess.Popen[bytes]
    users: dict[str, str] = field(default_factory=lambda: dict(USERS))
    ca_file: Path | None = None
    """The CA that signed the server's certificate, when it speaks HTTPS."""

    def client(self, user: str = "alice") -> httpx.Client:
        """A plain HTTP client logged in as ``user`` (the caller closes it)."""
        verify = ssl.create_default_context(cafile=str(self.ca_file)) \
            if self.ca_file is not None else True
        return httpx.Client(auth=(user, self.users[user]), timeout=30, verify=verify)

    def _make(self, method: str, user: str, name: str, body: str) -> str:
        url = f"{self.url}{user}/{name}/"
        with self.client(user) as client:
            answer = client.request(method, url, content=body.encode(),
                                    headers={"Content-Type": "application/xml"})
        if answer.status_code != 201:
            raise RuntimeError(f"{method} {url}: {answer.status_code} {answer.text}")
        return url

    def make_addressbook(self, user: str = "alice", name: str | None = None,
                         display_name: str = "Contacts") -> str:
        """Create an address book of ``user`` and return its URL."""
        return self._make("MKCOL", user, name or f"book-{uuid.uuid4().hex[:8]}",
                          _ADDRESSBOOK_BODY.format(name=display_name))

    def make_calendar(self, user: str = "alice", name: str | None = None,
                      display_name: str = "Calendar",
                      components: tuple[str, ...] = ("VEVENT", "VTODO")) -> str:
        """Create a calendar of ``user`` for ``components`` and return its URL."""
        listed = "".join(f'<C:comp name="{component}"/>' for component in components)
        return self._make("MKCALENDAR", user, name or f"cal-{uuid.uuid4().hex[:8]}",
                          _CALENDAR_BODY.format(name=display_name, components=listed))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class DavEditor:
    """Edits a collection with plain WebDAV requests, as another client (a phone, a
    calendar application) would: its own item text, its own resource names (``<uid>.vcf``
    or ``<uid>.ics``). ``render(uid, fields, extra)`` makes an item's text; ``extra`` holds
    property lines to keep, inserted before the item's last END line."""

    def __init__(self, server: RadicaleServer, collection: str, extension: str,
                 render: Callable[[str, dict[str, Any], str], str], user: str = "alice") \
            -> None:
        self.collection = collection
        self.extension = extension
        self.render = render
        self.http = server.client(user)
        self.content_type = "text/vcard" if extension == ".vcf" else "text/calendar"

    def url(self, key: str) -> str:
        return f"{self.collection}{key}"

    def get(self, key: str) -> str:
        answer = self.http.get(self.url(key))
        answer.raise_for_status()
        return answer.text

    def put(self, key: str, text: str, **headers: str) -> httpx.Response:
        answer = self.http.put(self.url(key), content=text.encode(),
                               headers={"Content-Type": self.content_type, **headers})
        if answer.status_code not in (201, 204):
            raise RuntimeError(f"PUT {self.url(key)}: {answer.status_code} {answer.text}")
        return answer

    def create(self, fields: dict[str, Any]) -> str:
        uid = str(uuid.uuid4()).upper()
        key = f"{uid}{self.extension}"
        self.put(key, self.render(uid, fields, ""), **{"If-None-Match": "*"})
        return key

    def _uid(self, key: str) -> str:
        for line in self.get(key).splitlines():
            if line.startswith("UID:"):
                return line[4:].strip()
        raise AssertionError(f"{key} has no UID")

    def update(self, key: str, fields: dict[str, Any]) -> None:
        extra = "".join(line.rstrip("\r") + "\r\n" for line in self.get(key).splitlines()
                        if line.startswith("X-SYNCLINE"))
        self.put(key, self.render(self._uid(key), fields, extra))

    def delete(self, key: str) -> None:
        answer = self.http.delete(self.url(key))
        assert answer.status_code in (200, 204), answer.text

    def set_unmapped(self, key: str, value: str) -> None:
        lines = self.get(key).replace("\r\n", "\n").split("\n")
        end = max(i for i, line in enumerate(lines) if line.startswith("END:V")
                  and line not in ("END:VCALENDAR", "END:VALARM", "END:VTIMEZONE"))
        lines.insert(end, f"X-SYNCLINE-TEST:{value}")
        self.put(key, "\r\n".join(lines))

    def get_unmapped(self, key: str) -> str | None:
        for line in self.get(key).splitlines():
            if line.startswith("X-SYNCLINE-TEST:"):
                return line.partition(":")[2].strip().replace("\\,", ",")
        return None

    def close(self) -> None:
        self.http.close()


class DavContractHooks:
    """The optional parts of the shared connector contract (see ``syncline.testing``)
    for ``carddav`` and ``caldav`` on Radicale: versions are checked (If-Match, 412), a
    sync-token can be made invalid (Radicale then answers 403 ``DAV:valid-sync-token``) and
    a ctag snapshot can be lost, and Radicale stores items syncline's parsers refuse.

    A subclass sets ``stream`` (as the contract wants), ``malformed`` (the text of such an
    item) and ``malformed_problem`` (words the parse error holds)."""

    stream: ClassVar[str]
    checks_versions: ClassVar[bool] = True
    malformed: ClassVar[str]
    malformed_problem: ClassVar[str]

    @contextlib.contextmanager
    def racing(self, connector: Connector, action: Callable[[str], None]) -> Iterator[bool]:
        """Run ``action(key)`` just before each PUT or DELETE the connector sends (after it
        fetched the item and checked its version)."""
        http = connector.http  # type: ignore[attr-defined]
        real_put, real_delete = http.put, http.delete

        def put(url: str, body: bytes, content_type: str, *, etag: str | None = None) -> Any:
            action(unquote(url.rsplit("/", 1)[-1]))
            return real_put(url, body, content_type, etag=etag)

        def delete(url: str, etag: str | None) -> None:
            action(unquote(url.rsplit("/", 1)[-1]))
            real_delete(url, etag)

        http.put, http.delete = put, delete
        try:
            yield True
        finally:
            http.put, http.delete = real_put, real_delete

    def expire_cursor(self, connector: Connector, cursor: str) -> str | None:
        """A sync-token the server does not know, or a ctag cursor whose snapshot is gone."""
        if cursor.startswith("sync:"):
            return cursor[:-12] + "0" * 12
        name = cursor.removeprefix("ctag:")
        state = connector.site(self.stream).state  # type: ignore[attr-defined]
        (state.path / "snapshots" / name).unlink()
        return cursor

    def put_malformed(self, outside: Any) -> tuple[str, str] | None:
        """``broken<ext>``: an item Radicale takes and syncline's parser refuses."""
        key = f"broken{outside.extension}"
        outside.put(key, self.malformed)
        return key, self.malformed_problem


def _wait_until_up(server: RadicaleServer, log: Path, deadline_s: float = 30.0) -> None:
    """Poll the server until it answers HTTP.

    Raises:
        RuntimeError: the process ended or did not answer in time (with its log).
    """
    give_up = time.monotonic() + deadline_s
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"Radicale ended with {server.process.returncode}:\n"
                               f"{log.read_text(errors='replace')}")
        with contextlib.suppress(httpx.TransportError):
            httpx.get(server.url, timeout=2, verify=False)
            return
        if time.monotonic() > give_up:
            server.stop()
            raise RuntimeError(f"Radicale did not answer within {deadline_s} s:\n"
                               f"{log.read_text(errors='replace')}")
        time.sleep(0.05)


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A test CA and a certificate it signs for 127.0.0.1: the paths of the CA
    certificate, the server certificate and the server's key (PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "syncline test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                       False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(
            "127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            ca_key.public_key()), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .sign(ca_key, hashes.SHA256()))
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


@contextlib.contextmanager
def running_radicale(folder: Path, *, tls: bool = False) -> Iterator[RadicaleServer]:
    """Start Radicale with its configuration, users and storage in ``folder`` (speaking
    HTTPS with a test CA's certificate when ``tls``); stop it after. Raises RuntimeError
    when it does not come up."""
    folder.mkdir(parents=True, exist_ok=True)
    htpasswd = folder / "users"
    htpasswd.write_text("".join(f"{user}:{password}\n" for user, password in USERS.items()))
    storage = folder / "storage"
    port = _free_port()
    config = folder / "config"
    ca_file = None
    tls_lines = ""
    if tls:
        ca_file, certificate, key = make_certificates(folder)
        tls_lines = f"ssl = True\ncertificate = {certificate}\nkey = {key}\n"
    config.write_text(
        "[server]\n"
        f"hosts = 127.0.0.1:{port}\n"
        f"{tls_lines}"
        "[auth]\n"
        "type = htpasswd\n"
        f"htpasswd_filename = {htpasswd}\n"
        "htpasswd_encryption = plain\n"
        "delay = 0\n"
        "[rights]\n"
        "type = owner_only\n"
        "[storage]\n"
        f"filesystem_folder = {storage}\n"
        "[logging]\n"
        "level = warning\n"
        "mask_passwords = True\n"
    )
    log = folder / "radicale.log"
    environment = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "radicale", "--config", str(config)],
            stdout=output, stderr=subprocess.STDOUT, env=environment)
    scheme = "https" if tls else "http"
    server = RadicaleServer(f"{scheme}://127.0.0.1:{port}/", storage, process, ca_file=ca_file)
    try:
        _wait_until_up(server, log)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RadicaleServer]:
    """A Radicale server shared by the tests of one module."""
    with running_radicale(tmp_path_factory.mktemp("radicale")) as server:
        yield server
