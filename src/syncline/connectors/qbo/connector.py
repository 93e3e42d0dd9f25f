"""The ``qbo`` connector: QuickBooks Online through its Accounting API v3.

Streams and their QBO entities are listed in :mod:`.mapping`; settings in :mod:`.settings`.
Reading: queries paged with STARTPOSITION / MAXRESULTS (full reads, reads by key) and
change data capture (incremental reads, :mod:`.reading`). Writing: the batch endpoint with
sparse updates, SyncToken concurrency and request ids (:mod:`.writing`). Every call carries
``minorversion`` and keeps the company's limits (:mod:`.http`); OAuth tokens rotate and are
kept encrypted in the vault (:mod:`.auth`). Crash safety: receipts and own-write records in
the state folder (:mod:`.state`).

A record's key is the object's ``Id``; its version is the ``SyncToken``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from syncline.connectors.base import (
    Capability,
    ChangeFeed,
    Connector,
    ReadScope,
    WriteBatch,
    WriteResult,
)
from syncline.connectors.qbo.auth import TokenKeeper
from syncline.connectors.qbo.documents import find_item
from syncline.connectors.qbo.http import ApiClient, RateGate
from syncline.connectors.qbo.mapping import STREAMS, StreamMap
from syncline.connectors.qbo.reading import Reader, key_number
from syncline.connectors.qbo.settings import QboSettings
from syncline.connectors.qbo.state import StateFolder
from syncline.connectors.qbo.writing import Writer
from syncline.errors import ConfigError, ConnectorNotOpen
from syncline.model import Record
from syncline.vault import Vault

__all__ = ["QboConnector"]


class QboConnector(Connector):
    """See the module docstring."""

    type_name: ClassVar[str] = "qbo"
    description: ClassVar[str] = "QuickBooks Online (Accounting API v3: query, CDC, batch)"

    def __init__(self, endpoint: str, settings: Mapping[str, Any], base_dir: Path) -> None:
        super().__init__(endpoint, settings, base_dir)
        self.config = QboSettings.parse(endpoint, settings, base_dir)
        self.client: ApiClient | None = None
        self._reader: Reader | None = None
        self._writer: Writer | None = None

    @classmethod
    def validate_settings(cls, endpoint: str, settings: Mapping[str, Any]) -> None:
        QboSettings.parse(endpoint, settings, Path("."))

    @classmethod
    def capability_matrix(cls) -> dict[str, Capability]:
        return {name: mapping.capabilities for name, mapping in STREAMS.items()}

    # -- life cycle -------------------------------------------------------------------------
    def open(self) -> None:
        """Prepare the API client and get a valid access token.

        Raises:
            AuthenticationFailed: no usable refresh token, or the token was refused.
            EndpointUnavailable: the token endpoint cannot be reached.
            ConfigError: a secret's environment variable is unset, the vault is unusable, or
                the company has no item ``rounding_item`` names.
        """
        config = self.config
        tokens = TokenKeeper(endpoint=self.endpoint, realm=config.realm_id,
                             token_url=config.token_url, client_id=config.client_id,
                             client_secret=config.secret("client_secret") or "",
                             vault=Vault(config.vault, key_file=config.key_file),
                             first_refresh_token=config.secret("refresh_token"),
                             timeout=config.timeout)
        gate = RateGate(config.requests_per_minute, config.concurrent, config.minute_seconds)
        self.client = ApiClient(endpoint=self.endpoint, base_url=config.base_url,
                                realm=config.realm_id, minor_version=config.minor_version,
                                tokens=tokens, gate=gate, timeout=config.timeout,
                                attempts=config.retries.attempts,
                                context=lambda: self.context, retries=config.retries)
        state = StateFolder(config.state_dir)
        self._reader = Reader(self.endpoint, self.client, state, page_size=config.page_size,
                              cdc_limit=config.cdc_limit)
        self._writer = Writer(self.endpoint, self.client, self._reader, state,
                              batch_size=config.batch_size, concurrent=config.concurrent)
        tokens.access_token()
        if config.rounding_item is not None:
            try:
                self._writer.rounding_item = find_item(
                    self._reader, config.rounding_item,
                    f"endpoints.{self.endpoint}.rounding_item")
            except BaseException:
                self.close()
                raise

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        self._reader = self._writer = None

    @property
    def reader(self) -> Reader:
        """Raises: ConnectorNotOpen before :meth:`open` or after :meth:`close`."""
        if self._reader is None:
            raise ConnectorNotOpen(self.endpoint)
        return self._reader

    @property
    def writer(self) -> Writer:
        """Raises: ConnectorNotOpen before :meth:`open` or after :meth:`close`."""
        if self._writer is None:
            raise ConnectorNotOpen(self.endpoint)
        return self._writer

    def _map(self, stream: str) -> StreamMap:
        if stream not in self.config.streams:
            raise ConfigError(f"stream '{stream}' is not offered by this endpoint; it offers "
                              f"{', '.join(self.config.streams)}",
                              key=f"endpoints.{self.endpoint}.streams")
        return STREAMS[stream]

    # -- description ------------------------------------------------------------------------
    def streams(self) -> dict[str, Capability]:
        return {name: STREAMS[name].capabilities for name in self.config.streams}

    def field_names(self, stream: str) -> frozenset[str]:
        return self._map(stream).field_names()

    def read_only_fields(self, stream: str) -> frozenset[str]:
        """The fields QBO computes (totals, the status from the balance, a tax code's
        rate): owned by this side of a link."""
        return self._map(stream).read_only_fields()

    # -- reading ----------------------------------------------------------------------------
    def current_cursor(self, stream: str) -> str | None:
        return self.reader.current_cursor(self._map(stream))

    def read_changes(self, stream: str, cursor: str, scope: ReadScope) -> ChangeFeed:
        return self.reader.read_changes(self._map(stream), cursor, scope,
                                        lambda key: self.in_key_range(stream, key, scope))

    def read_all(self, stream: str, scope: ReadScope) -> Iterator[list[Record]]:
        return self.reader.read_all(self._map(stream), scope)

    def read_keys(self, stream: str, keys: Sequence[str]) -> dict[str, Record]:
        return self.reader.read_keys(self._map(stream), keys)

    def in_key_range(self, stream: str, key: str, scope: ReadScope) -> bool:
        """QBO Ids order as numbers."""
        if scope.from_key is not None and key_number(key) < key_number(scope.from_key):
            return False
        return not (scope.to_key is not None and key_number(key) > key_number(scope.to_key))

    def count(self, stream: str) -> int | None:
        return self.reader.count(self._map(stream))

    # -- writing ----------------------------------------------------------------------------
    def write(self, batch: WriteBatch) -> list[WriteResult]:
        self.writer.context = self.context  # the run's: its requests stop when asked
        return self.writer.write(self._map(batch.stream), batch)

    def recover(self, batch: WriteBatch) -> list[WriteResult] | None:
        return self.writer.recover(self._map(batch.stream), batch)

