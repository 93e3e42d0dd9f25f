"""Everything a face asks of an endpoint outside a run: which connectors exist and what they
can do, testing a connection, preparing endpoints for a link (``syncline setup``), listing
the collections of a DAV user (``syncline discover``), finding documents by number
(``syncline post``), the OAuth grant of an endpoint (``syncline auth``), and selecting the
records a forced resynchronisation would send (its preview).

Terms: an **endpoint** is one configured system (connector type and settings); its
**capabilities** say, per stream, what the connector can do (:class:`Capability`: read,
create, update, delete, incremental reading, deletion detection). A **connector factory**
makes an unopened connector for an endpoint name (tests replace it; ``None``: the
configured connector).

The faces never open a connector themselves: each function here opens what it needs and
closes it before it returns (or, for :func:`prepare_endpoints` and :func:`endpoint_grant`,
when the caller is done).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from syncline.connectors.base import Capability
from syncline.errors import SynclineError, UsageError

if TYPE_CHECKING:
    from syncline.config import Config, LinkConfig
    from syncline.connectors.base import Connector
    from syncline.connectors.dav.discovery import Collection
    from syncline.service.criteria import ForceCriteria
    from syncline.service.force import Selection

__all__ = [
    "Capability",
    "Collection",
    "ConnectionCheck",
    "ConnectorCapabilities",
    "ConnectorFactory",
    "Discovery",
    "EndpointGrant",
    "OAuthGrant",
    "Prepared",
    "check_connection",
    "connector_capabilities",
    "describe_endpoint",
    "discover_collections",
    "endpoint_grant",
    "prepare_endpoints",
    "preview_selection",
    "resolve_keys",
]

ConnectorFactory = Callable[[str], "Connector"]
"""Makes an (unopened) connector for an endpoint name."""


def __getattr__(name: str) -> Any:
    """:class:`Collection` (a DAV collection), loaded with the DAV modules on first use."""
    if name == "Collection":
        from syncline.connectors.dav.discovery import Collection

        return Collection
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _factory(config: Config, factory: ConnectorFactory | None) -> ConnectorFactory:
    if factory is not None:
        return factory
    from syncline.engine.sync import open_endpoint

    return lambda name: open_endpoint(config, name)


# -- connectors and their capabilities -------------------------------------------------------
@dataclass(frozen=True)
class ConnectorCapabilities:
    """One registered connector type: its capabilities per stream, or why it has none
    (``problem``: it cannot be loaded, or declares no streams)."""

    name: str
    streams: dict[str, Capability]
    problem: str | None = None


def connector_capabilities() -> list[ConnectorCapabilities]:
    """Every registered connector type, by name, with its capability matrix."""
    from syncline.connectors import available_connectors, connector_class

    found: list[ConnectorCapabilities] = []
    for name in sorted(available_connectors()):
        try:
            matrix = connector_class(name).capability_matrix()
        except (SynclineError, ImportError, AttributeError) as error:
            found.append(ConnectorCapabilities(name, {}, f"cannot be loaded: {error}"))
            continue
        found.append(ConnectorCapabilities(name, dict(matrix),
                                           None if matrix else "declares no streams"))
    return found


def describe_endpoint(config: Config, name: str) -> tuple[str, dict[str, Capability]]:
    """The description of endpoint ``name``'s connector and its streams' capabilities, read
    from its settings without connecting.

    Raises:
        SynclineError: the connector cannot be loaded or its settings are wrong (also
            any other error the connector raises while reading its settings).
    """
    from syncline.connectors import connector_class

    endpoint = config.endpoints[name]
    cls = connector_class(endpoint.connector)
    return cls.description, cls(name, endpoint.settings, config.base_dir).streams()


@dataclass
class ConnectionCheck:
    """The result of testing a connection: ``ok`` and a message (how long connecting took,
    or why it failed); when it connected, the streams' capabilities and record counts
    (``None``: the connector cannot count)."""

    ok: bool
    message: str
    streams: dict[str, Capability] = field(default_factory=dict)
    counts: dict[str, int | None] = field(default_factory=dict)


def check_connection(config: Config, name: str,
                     factory: ConnectorFactory | None = None) -> ConnectionCheck:
    """Connect to endpoint ``name``, read its streams' capabilities and sizes, and close.

    A connector's failure (:class:`~syncline.errors.SynclineError`) is the result, not
    raised.
    """
    started = time.monotonic()
    try:
        connector = _factory(config, factory)(name)
        connector.open()
        try:
            streams = connector.streams()
            counts = {stream: connector.count(stream) for stream in streams}
        finally:
            connector.close()
    except SynclineError as error:
        return ConnectionCheck(False, str(error))
    return ConnectionCheck(True, f"connected in {time.monotonic() - started:.2f} s", streams,
                        counts)


# -- setup -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Prepared:
    """What setting up one endpoint of a link did: its side, name, connector type and the
    lines the connector reported (empty: nothing to do)."""

    side: str
    endpoint: str
    connector: str
    done: list[str]


def prepare_endpoints(config: Config, link: str) -> Iterator[Prepared]:
    """Set up both endpoints of ``link`` for incremental sync (e.g. install change capture),
    yielding each one's result as it is done. Both are opened (their keys checked) before
    either is set up, and both are closed when the iteration ends.

    Raises:
        ConfigError: no such link, or an endpoint's settings are wrong.
        RunError: an endpoint cannot be reached or set up.
    """
    settings = config.link(link)
    make = _factory(config, None)
    connectors: list[tuple[str, str, Connector]] = []
    try:
        for side, name in (("a", settings.a), ("b", settings.b)):
            connector = make(name)
            connectors.append((side, name, connector))
            connector.open()
        for side, name, connector in connectors:
            done = connector.setup(list(settings.streams))
            yield Prepared(side, name, config.endpoints[name].connector, list(done or []))
    finally:
        for _, _, connector in connectors:
            connector.close()


# -- discovery -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Discovery:
    """The collections a DAV endpoint's user reaches: ``service`` (``carddav``: address
    books; ``caldav``: calendars), the ``url`` searched from, and the ``username``."""

    endpoint: str
    service: str
    url: str
    username: str | None
    collections: list[Collection]


def discover_collections(config: Config, endpoint: str) -> Discovery:
    """The address books or calendars the configured user of a ``carddav`` / ``caldav``
    endpoint can reach (well-known URLs, current-user-principal, home sets).

    Raises:
        ConfigError: no such endpoint, or its settings are wrong.
        UsageError: the endpoint is not a DAV endpoint.
        RunError: the server cannot be reached or answers wrongly.
    """
    from syncline.connectors import connector_class
    from syncline.connectors.dav.client import DavClient
    from syncline.connectors.dav.connector import DavConnector
    from syncline.connectors.dav.discovery import user_collections
    from syncline.connectors.dav.settings import parse_settings
    from syncline.errors import ConfigError

    settings = config.endpoints.get(endpoint)
    if settings is None:
        raise ConfigError(f"unknown endpoint '{endpoint}'; known: "
                          f"{', '.join(config.endpoints) or 'none'}", key=f"endpoints.{endpoint}")
    cls = connector_class(settings.connector, key=f"endpoints.{endpoint}.connector")
    if not issubclass(cls, DavConnector):
        raise UsageError(f"discover works on carddav and caldav endpoints; '{endpoint}' is a "
                         f"{settings.connector} endpoint")
    options = parse_settings(endpoint, settings.settings, cls.stream_names)
    client = DavClient(endpoint, username=options.username,
                       password=options.resolved_password(endpoint),
                       verify_tls=options.verify_tls, ca_file=options.ca_path(config.base_dir),
                       timeout=options.timeout, retries=options.retry_policy(endpoint))
    try:
        found = user_collections(client, options.url, cls.service)
    finally:
        client.close()
    return Discovery(endpoint, cls.service, options.url, options.username, list(found))


# -- documents by number ---------------------------------------------------------------------
def resolve_keys(config: Config, link: LinkConfig, stream: str,
                 given: list[str]) -> dict[str, str]:
    """The keys on side a of the documents named by ``given``: each is a key, or a
    document number (the stream's first natural key), looked up in that order.

    Raises:
        UsageError: a name matches no record of the stream on side a.
        RunError: side a cannot be read.
    """
    from syncline.connectors.base import ReadScope
    from syncline.model import ENTITY_TYPES, canonical_value

    connector = _factory(config, None)(link.a)
    connector.open()
    try:
        found = {name: name for name in connector.read_keys(stream, given)}
        missing = [name for name in given if name not in found]
        natural = ENTITY_TYPES[stream].natural_keys
        if missing and natural:
            wanted = set(missing)
            for page in connector.read_all(stream, ReadScope()):
                for record in page:
                    value = canonical_value(record.fields.get(natural[0]))
                    if value is not None and str(value) in wanted:
                        found[str(value)] = record.key
                        wanted.discard(str(value))
                if not wanted:
                    break
    finally:
        connector.close()
    unknown = [name for name in given if name not in found]
    if unknown:
        by = f" or {natural[0]}" if natural else ""
        raise UsageError(f"no {stream} with key{by} {', '.join(repr(n) for n in unknown)} on "
                         f"'{link.a}'")
    return {name: found[name] for name in given}


# -- OAuth -----------------------------------------------------------------------------------
class OAuthGrant(Protocol):
    """An endpoint's OAuth 2.0 authorization-code grant (its token keeper)."""

    def authorization_url(self, state: str | None = None) -> tuple[str, str]: ...

    def complete(self, answer: str, state: str | None = None) -> dict[str, Any]: ...


@dataclass
class EndpointGrant:
    """The OAuth grant of one endpoint, with what ``syncline auth`` shows around it.
    ``close()`` when done."""

    grant: OAuthGrant
    redirect_uri: str
    connector: Connector

    def connections(self) -> list[dict[str, Any]]:
        """The organisations the stored token reaches (empty when the connector does not
        say)."""
        found = getattr(self.connector, "connections", None)
        return list(found()) if callable(found) else []

    def close(self) -> None:
        """Close the endpoint's connector."""
        self.connector.close()


def endpoint_grant(config: Config, endpoint: str) -> EndpointGrant:
    """The OAuth grant of ``endpoint`` (not opened; nothing is read until it is used).

    Raises:
        ConfigError: no such endpoint, or its settings are wrong.
        UsageError: the endpoint does not use an OAuth authorization grant.
    """
    from syncline.connectors import connector_class
    from syncline.errors import ConfigError

    settings = config.endpoints.get(endpoint)
    if settings is None:
        raise ConfigError(f"there is no endpoint '{endpoint}'", key=f"endpoints.{endpoint}",
                          source=config.source)
    connector = connector_class(settings.connector)(endpoint, settings.settings,
                                                    config.base_dir)
    tokens = getattr(connector, "tokens", None)
    if tokens is None or not hasattr(tokens, "authorization_url"):
        raise UsageError(f"endpoint '{endpoint}' ({settings.connector}) does not use an "
                         f"OAuth authorization grant")
    redirect_uri = str(getattr(getattr(connector, "config", None), "redirect_uri", ""))
    return EndpointGrant(tokens, redirect_uri, connector)


# -- forced resynchronisation preview --------------------------------------------------------
def preview_selection(config: Config, link: str, criteria: ForceCriteria,
                      factory: ConnectorFactory | None = None) -> Selection:
    """Read the authoritative side of ``link`` and select the records ``criteria`` would
    force (nothing is stored).

    Raises:
        UsageError: see :func:`~syncline.service.force.select_records`.
        RunError: the endpoint cannot be read.
    """
    from syncline.model import Side
    from syncline.service.force import authoritative_side, select_records

    settings = config.link(link)
    side = authoritative_side(settings, criteria.source,
                              settings.check_streams(link, criteria.streams))
    connector = _factory(config, factory)(settings.a if side is Side.A else settings.b)
    connector.open()
    try:
        return select_records(link, settings, connector, criteria)
    finally:
        connector.close()
