"""WebDAV, CardDAV and CalDAV XML: request bodies and the multistatus answers.

Terms:

Clark name
    ``{namespace}local``, how :mod:`xml.etree` names an element: ``{DAV:}getetag``.
multistatus
    The 207 answer of PROPFIND and REPORT: one ``response`` per resource, each with an
    ``href`` and either a ``status`` of its own (a member gone from a sync-collection report:
    404) or ``propstat`` blocks, the properties found under a 200 status.
sync-token
    RFC 6578: an opaque text naming a state of a collection; ``sync-collection`` with it
    answers what changed since.

Namespaces: ``DAV:``, ``urn:ietf:params:xml:ns:carddav`` (RFC 6352),
``urn:ietf:params:xml:ns:caldav`` (RFC 4791) and ``http://calendarserver.org/ns/`` (getctag).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "CALDAV",
    "CALENDARSERVER",
    "CARDDAV",
    "DAV",
    "Response",
    "clark",
    "multiget_body",
    "parse_error_conditions",
    "parse_multistatus",
    "propfind_body",
    "sync_collection_body",
]

DAV = "DAV:"
CARDDAV = "urn:ietf:params:xml:ns:carddav"
CALDAV = "urn:ietf:params:xml:ns:caldav"
CALENDARSERVER = "http://calendarserver.org/ns/"

for _namespace, _prefix in ((DAV, "D"), (CARDDAV, "CARD"), (CALDAV, "CAL"),
                           (CALENDARSERVER, "CS")):
    ET.register_namespace(_prefix, _namespace)  # readable bodies (else ns0, ns1...)
_STATUS = re.compile(r"^\s*HTTP/\d(?:\.\d)?\s+(\d{3})")


def clark(namespace: str, local: str) -> str:
    """The Clark name of ``local`` in ``namespace``."""
    return f"{{{namespace}}}{local}"


def _element(name: str, parent: ET.Element | None = None) -> ET.Element:
    return ET.Element(name) if parent is None else ET.SubElement(parent, name)


def _serialise(root: ET.Element) -> bytes:
    """``root`` as an XML document."""
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body


def propfind_body(properties: Iterable[str]) -> bytes:
    """A PROPFIND body asking for ``properties`` (Clark names)."""
    root = _element(clark(DAV, "propfind"))
    prop = _element(clark(DAV, "prop"), root)
    for name in properties:
        _element(name, prop)
    return _serialise(root)


def sync_collection_body(token: str | None, properties: Iterable[str]) -> bytes:
    """A ``sync-collection`` REPORT body (RFC 6578 §3.2): changes since ``token`` (``None``
    or ``""``: every member), one level deep, with ``properties``."""
    root = _element(clark(DAV, "sync-collection"))
    _element(clark(DAV, "sync-token"), root).text = token or None
    _element(clark(DAV, "sync-level"), root).text = "1"
    prop = _element(clark(DAV, "prop"), root)
    for name in properties:
        _element(name, prop)
    return _serialise(root)


def multiget_body(kind: str, hrefs: Sequence[str], *, with_data: bool = True) -> bytes:
    """An ``addressbook-multiget`` (``kind="addressbook"``, RFC 6352 §8.7) or
    ``calendar-multiget`` (``kind="calendar"``, RFC 4791 §7.9) body for ``hrefs`` (paths as
    the server gave them), asking for the ETag, the modification time and, ``with_data``,
    the item."""
    namespace, data = (CARDDAV, "address-data") if kind == "addressbook" \
        else (CALDAV, "calendar-data")
    root = _element(clark(namespace, f"{kind}-multiget"))
    prop = _element(clark(DAV, "prop"), root)
    _element(clark(DAV, "getetag"), prop)
    _element(clark(DAV, "getlastmodified"), prop)
    if with_data:
        _element(clark(namespace, data), prop)
    for href in hrefs:
        _element(clark(DAV, "href"), root).text = href
    return _serialise(root)


@dataclass(slots=True)
class Response:
    """One ``response`` of a multistatus: its ``href`` as given, its own ``status`` (``None``
    when it has propstat blocks instead) and the properties found (Clark name -> element)."""

    href: str
    status: int | None = None
    properties: dict[str, ET.Element] = field(default_factory=dict)

    def text(self, name: str) -> str | None:
        """The text of property ``name``, stripped; ``None`` when absent or empty."""
        found = self.properties.get(name)
        if found is None or found.text is None:
            return None
        return found.text.strip() or None

    def children(self, name: str) -> list[str]:
        """The Clark names of the child elements of property ``name`` (resourcetype...)."""
        found = self.properties.get(name)
        return [child.tag for child in found] if found is not None else []

    def hrefs(self, name: str) -> list[str]:
        """The ``DAV:href`` texts inside property ``name`` (home sets, principals)."""
        found = self.properties.get(name)
        if found is None:
            return []
        return [(href.text or "").strip() for href in found.iter(clark(DAV, "href"))
                if (href.text or "").strip()]


def _status(text: str | None) -> int | None:
    matched = _STATUS.match(text or "")
    return int(matched.group(1)) if matched else None


def _parse(content: bytes) -> ET.Element:
    """The root element of ``content``.

    Raises:
        ValueError: not well-formed XML, or it declares entities (a server has no reason to,
            and entity expansion is how XML bombs work).
    """
    if b"<!ENTITY" in content:
        raise ValueError("the XML declares entities")
    try:
        return ET.fromstring(content)
    except ET.ParseError as error:
        raise ValueError(f"not well-formed XML ({error})") from None


def parse_multistatus(content: bytes) -> tuple[list[Response], str | None]:
    """The responses of a multistatus document and its ``sync-token`` (``None`` if absent).

    Raises:
        ValueError: the document is not XML, not a ``DAV:multistatus``, or a response has
            no href.
    """
    root = _parse(content)
    if root.tag != clark(DAV, "multistatus"):
        raise ValueError(f"expected a DAV:multistatus document, got <{root.tag}>")
    responses: list[Response] = []
    for node in root.findall(clark(DAV, "response")):
        href = node.find(clark(DAV, "href"))
        if href is None or not (href.text or "").strip():
            raise ValueError("a response without href")
        response = Response((href.text or "").strip(),
                            _status(node.findtext(clark(DAV, "status"))))
        for propstat in node.findall(clark(DAV, "propstat")):
            status = _status(propstat.findtext(clark(DAV, "status")))
            prop = propstat.find(clark(DAV, "prop"))
            if prop is None or status is None or not 200 <= status < 300:
                continue
            for element in prop:
                response.properties[element.tag] = element
        responses.append(response)
    token = root.findtext(clark(DAV, "sync-token"))
    return responses, token.strip() if token is not None and token.strip() else None


def parse_error_conditions(content: bytes) -> list[str]:
    """The Clark names of the preconditions in a ``DAV:error`` body (RFC 4918 §16), e.g.
    ``{DAV:}valid-sync-token``; ``[]`` when the body is no such document."""
    try:
        root = _parse(content)
    except ValueError:
        return []
    if root.tag != clark(DAV, "error"):
        return []
    return [child.tag for child in root]
