"""Finding address books and calendars: RFC 6764 well-known URLs, the current user's
principal (RFC 5397), its home sets (RFC 6352 §7.1.1, RFC 4791 §6.2.1), and the collections
in them.

Terms:

service
    ``carddav`` (address books) or ``caldav`` (calendars).
principal
    The resource standing for the logged-in user (``/alice/``); its ``addressbook-home-set``
    / ``calendar-home-set`` name the folders holding the user's collections.
collection
    One address book or calendar: :class:`Collection`.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from syncline.connectors.dav.client import DavClient
from syncline.connectors.dav.protocol import (
    CALDAV,
    CALENDARSERVER,
    CARDDAV,
    DAV,
    Response,
    clark,
)
from syncline.errors import ConfigError, ProtocolError

__all__ = [
    "SERVICES",
    "Collection",
    "describe",
    "discover",
    "find_collections",
    "user_collections",
]

SERVICES = ("carddav", "caldav")

_KIND = {"carddav": clark(CARDDAV, "addressbook"), "caldav": clark(CALDAV, "calendar")}
_HOME = {"carddav": clark(CARDDAV, "addressbook-home-set"),
         "caldav": clark(CALDAV, "calendar-home-set")}
_COMPONENTS = clark(CALDAV, "supported-calendar-component-set")
_REPORTS = clark(DAV, "supported-report-set")
COLLECTION_PROPERTIES = (clark(DAV, "resourcetype"), clark(DAV, "displayname"),
                         clark(DAV, "sync-token"), clark(CALENDARSERVER, "getctag"),
                         _REPORTS, _COMPONENTS)
"""What listing the collections of a home set asks for."""
DESCRIBE_PROPERTIES = (clark(DAV, "resourcetype"), clark(DAV, "displayname"), _REPORTS,
                       _COMPONENTS)
"""What :func:`describe` asks for: not the sync-token nor the ctag, which cost a server such
as Radicale a walk over the whole collection (about a second for 10,000 cards), while every
sync asks for them again anyway. Whether the collection offers ``sync-collection`` comes
from its supported-report-set."""


@dataclass(frozen=True, slots=True)
class Collection:
    """An address book or calendar: its absolute ``url``, display name, the calendar
    components it takes (``VEVENT``, ``VTODO``...; empty: not said, or an address book),
    whether it offers ``sync-collection`` and its current sync-token and ctag (``None``
    from :func:`describe`, which does not ask for them)."""

    url: str
    service: str
    display_name: str | None
    components: tuple[str, ...]
    sync_collection: bool
    sync_token: str | None
    ctag: str | None

    def takes(self, component: str) -> bool:
        """Whether the collection holds ``component`` items (``True`` when it does not say:
        RFC 4791 §5.2.3 means all)."""
        return not self.components or component in self.components


def _collection(client: DavClient, base: str, response: Response, service: str) \
        -> Collection | None:
    if _KIND[service] not in response.children(clark(DAV, "resourcetype")):
        return None
    components_node = response.properties.get(_COMPONENTS)
    components = tuple(str(node.get("name", "")).upper() for node in components_node) \
        if components_node is not None else ()
    reports = response.properties.get(_REPORTS)
    offers_sync = reports is not None and any(
        node.tag == clark(DAV, "sync-collection") for node in reports.iter())
    return Collection(client.url(base, response.href), service,
                      response.text(clark(DAV, "displayname")), components,
                      offers_sync or response.text(clark(DAV, "sync-token")) is not None,
                      response.text(clark(DAV, "sync-token")),
                      response.text(clark(CALENDARSERVER, "getctag")))


def describe(client: DavClient, url: str, service: str) -> Collection | None:
    """``url`` as a collection of ``service``, or ``None`` when it is something else.

    Raises:
        ProtocolError: ``url`` does not answer PROPFIND (404 included).
        EndpointUnavailable, AuthenticationFailed: see :class:`DavClient`.
    """
    responses = client.propfind(url, DESCRIBE_PROPERTIES, 0)
    for response in responses:
        if client.url(url, response.href).rstrip("/") == url.rstrip("/"):
            return _collection(client, url, response, service)
    if len(responses) == 1:  # moved (the server redirected us): its own href names it
        return _collection(client, url, responses[0], service)
    return None


def _principal(client: DavClient, url: str) -> str | None:
    """The current user's principal URL as ``url`` names it, else ``None``."""
    try:
        responses = client.propfind(url, [clark(DAV, "current-user-principal")], 0)
    except ProtocolError:
        return None
    for response in responses:
        for href in response.hrefs(clark(DAV, "current-user-principal")):
            return client.url(url, href)
    return None


def _well_known(url: str, service: str) -> str:
    """The well-known URL of ``service`` on ``url``'s server (RFC 6764 §5); PROPFIND follows
    its redirect."""
    return str(httpx.URL(url).join(f"/.well-known/{service}"))


def _principal_of(client: DavClient, url: str, service: str) -> str:
    """The current user's principal found from ``url`` or the server's well-known URL.

    Raises:
        ProtocolError: none found.
    """
    principal = _principal(client, url) or _principal(client, _well_known(url, service))
    if principal is None:
        raise ProtocolError(client.endpoint, f"no principal could be found from {url} "
                            f"(current-user-principal, /.well-known/{service})")
    return principal


def _home_collections(client: DavClient, principal: str, service: str) -> list[Collection]:
    """The collections in the principal's home sets, by URL.

    Raises:
        ProtocolError: the principal names no home set.
    """
    homes: list[str] = []
    for response in client.propfind(principal, [_HOME[service]], 0):
        homes.extend(client.url(principal, href) for href in response.hrefs(_HOME[service]))
    if not homes:
        raise ProtocolError(client.endpoint, f"the principal {principal} names no "
                            f"{_HOME[service].split('}')[1]}")
    found: dict[str, Collection] = {}
    for home in homes:
        for response in client.propfind(home, COLLECTION_PROPERTIES, 1):
            collection = _collection(client, home, response, service)
            if collection is not None:
                found.setdefault(collection.url, collection)
    return sorted(found.values(), key=lambda collection: collection.url)


def user_collections(client: DavClient, url: str, service: str) -> list[Collection]:
    """Every collection of ``service`` of the user, found from ``url`` (a collection, a
    principal or the server root) through the principal and its home sets.

    Raises:
        ProtocolError: no principal or home set can be found.
        EndpointUnavailable, AuthenticationFailed: see :class:`DavClient`.
    """
    return _home_collections(client, _principal_of(client, url, service), service)


def find_collections(client: DavClient, url: str, service: str) -> list[Collection]:
    """The collections of ``service`` the user can reach from ``url``: ``url`` itself when it
    is one; else those in the home sets of the principal found from ``url`` (its
    current-user-principal, or that of the server's well-known URL).

    Raises:
        ProtocolError: no principal or home set can be found.
        EndpointUnavailable, AuthenticationFailed: see :class:`DavClient`.
    """
    try:
        itself = describe(client, url, service)
    except ProtocolError:
        itself = None
    if itself is not None:
        return [itself]
    return user_collections(client, url, service)


def discover(client: DavClient, url: str, service: str, component: str | None = None) \
        -> Collection:
    """The one collection of ``service`` (holding ``component`` items, for calendars) that
    ``url`` names or leads to.

    Raises:
        ConfigError: none, or several to choose from (listed: set ``url`` to one).
        ProtocolError: no principal or home set can be found.
    """
    found = [collection for collection in find_collections(client, url, service)
             if component is None or collection.takes(component)]
    if len(found) == 1:
        return found[0]
    what = "address books" if service == "carddav" else \
        f"calendars{f' for {component}' if component else ''}"
    key = f"endpoints.{client.endpoint}.url"
    if not found:
        raise ConfigError(f"no {what} found from {url}", key=key)
    raise ConfigError(f"{len(found)} {what} found from {url}: "
                      f"{', '.join(c.url for c in found)}; set url to one of them "
                      f"(see: syncline discover {client.endpoint})", key=key)
