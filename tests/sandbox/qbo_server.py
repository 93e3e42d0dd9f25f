"""Helpers shared by the QBO sandbox and connector tests: a sandbox served over real HTTP on
127.0.0.1, the settings of a ``qbo`` endpoint pointing at it, an editor changing a company
as its own users do, and a link between a memory CRM and a sandbox company."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from syncline.config import parse_config
from syncline.connectors import connector_class
from syncline.connectors.base import Connector
from syncline.connectors.memory import MemoryStore, shared_store
from syncline.connectors.qbo import QboConnector
from syncline.connectors.qbo.mapping import STREAMS
from syncline.engine import RunMode, RunRequest, SyncEngine
from syncline.sandbox.qbo import (
    DEFAULT_REALM,
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    Company,
    Limits,
    SandboxServer,
    SandboxState,
)
from syncline.sandbox.qbo.query import parse_query
from syncline.state.store import StateStore

__all__ = ["ApiSession", "Books", "StoreEditor", "active", "endpoint_settings", "new_company",
           "open_connector", "running_sandbox"]

_realms = itertools.count(1)


@contextmanager
def running_sandbox(limits: Limits | None = None, cdc_limit: int = 1000
                    ) -> Iterator[SandboxServer]:
    """A QBO sandbox with one seeded company (:data:`DEFAULT_REALM`), serving until the
    block ends."""
    state = SandboxState(limits or Limits(), cdc_limit=cdc_limit)
    state.add_company(DEFAULT_REALM)
    with SandboxServer(state) as server:
        yield server


def endpoint_settings(server: SandboxServer, folder: Path, realm: str = DEFAULT_REALM,
                      **extra: Any) -> dict[str, Any]:
    """Settings of a ``qbo`` endpoint using company ``realm`` of ``server``, with a first
    refresh token, its vault and state folder in ``folder``."""
    tokens = server.state.tokens(realm)
    return {"realm_id": realm, "client_id": SANDBOX_CLIENT_ID,
            "client_secret": SANDBOX_CLIENT_SECRET, "refresh_token": tokens["refresh_token"],
            "base_url": server.base_url,
            "token_url": f"{server.base_url}/oauth2/v1/tokens/bearer",
            "vault": str(folder / "vault.json"), "state_dir": str(folder / "qbo-state"),
            **extra}


class ApiSession:
    """Plain HTTP calls to a sandbox company, as any API client would make them."""

    def __init__(self, server: SandboxServer, realm: str = DEFAULT_REALM) -> None:
        self.server = server
        self.realm = realm
        token = server.state.tokens(realm)["access_token"]
        self.http = httpx.Client(base_url=f"{server.base_url}/v3/company/{realm}",
                                 headers={"Authorization": f"Bearer {token}",
                                          "Accept": "application/json"}, trust_env=False)

    @property
    def company(self) -> Company:
        return self.server.state.companies[self.realm]

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(path, params={"minorversion": "75", **params})

    def post(self, path: str, body: Any, **params: Any) -> httpx.Response:
        return self.http.post(path, params={"minorversion": "75", **params}, json=body)

    def query(self, text: str) -> httpx.Response:
        return self.get("/query", query=text)

    def close(self) -> None:
        self.http.close()


def new_company(server: SandboxServer) -> Company:
    """A fresh seeded company in ``server`` (each test gets its own books)."""
    return server.state.add_company(f"9341{next(_realms):012d}")


def open_connector(server: SandboxServer, company: Company, folder: Path,
                   **extra: Any) -> QboConnector:
    connector = QboConnector("books", endpoint_settings(server, folder, company.realm_id,
                                                        **extra), folder)
    connector.open()
    return connector


def active(company: Company, entity: str) -> list[dict[str, Any]]:
    """The company's active objects of ``entity``, read from the sandbox's own data."""
    found = company.query(parse_query(f"SELECT * FROM {entity} MAXRESULTS 1000"))
    return list(found.get(entity, []))


class StoreEditor:
    """Changes a sandbox company as its own users do (through QBO itself, not the API
    client under test)."""

    def __init__(self, company: Company, stream: str) -> None:
        self.company = company
        self.mapping = STREAMS[stream]

    def create(self, fields: dict[str, Any]) -> str:
        body = self.mapping.to_body(fields, create=True)
        return str(self.company.create(self.mapping.entity, body)["Id"])

    def _sparse(self, key: str, body: dict[str, Any]) -> None:
        current = self.company.read(self.mapping.entity, key)
        self.company.update(self.mapping.entity, {**body, "Id": key,
                                                  "SyncToken": current["SyncToken"],
                                                  "sparse": True})

    def update(self, key: str, fields: dict[str, Any]) -> None:
        self._sparse(key, self.mapping.to_body(fields, create=False))

    def delete(self, key: str) -> None:
        current = self.company.read(self.mapping.entity, key)
        if self.mapping.entity in ("Invoice", "Bill", "Payment"):
            self.company.delete(self.mapping.entity, {"Id": key,
                                                      "SyncToken": current["SyncToken"]})
        else:
            self._sparse(key, {"Active": False})

    def set_unmapped(self, key: str, value: str) -> None:
        self._sparse(key, {"CustomerMemo": {"value": value}}
                     if self.mapping.entity == "Invoice" else {"CompanyName": value})

    def get_unmapped(self, key: str) -> str | None:
        found = self.company.read(self.mapping.entity, key)
        if self.mapping.entity == "Invoice":
            return (found.get("CustomerMemo") or {}).get("value")
        return found.get("CompanyName")


class Books:
    """A link ``l`` between a memory CRM (side a) and a sandbox company (side b), with the
    posting ``rules`` given (the link's ``rules`` table, per stream)."""

    def __init__(self, server: SandboxServer, folder: Path, *, streams: Mapping[str, list[str]],
                 conflict: str = "merge", qbo: Mapping[str, Any] | None = None,
                 match: Mapping[str, list[str]] | None = None,
                 factory: type[QboConnector] = QboConnector,
                 rules: Mapping[str, Any] | None = None) -> None:
        self.server = server
        self.company = new_company(server)
        self.crm_name = f"crm-{uuid.uuid4().hex}"
        self.crm: MemoryStore = shared_store(self.crm_name)
        raw = {
            "endpoints": {
                "crm": {"connector": "memory", "name": self.crm_name, "streams": {
                    stream: {"fields": fields} for stream, fields in streams.items()}},
                "books": {"connector": "qbo", **endpoint_settings(
                    server, folder, self.company.realm_id, streams=list(streams),
                    **(qbo or {}))}},
            "links": {"l": {"a": "crm", "b": "books", "streams": list(streams),
                            "conflict": conflict, "match": dict(match or {}),
                            "max_delete": "100%", "rules": dict(rules or {})}},
        }
        self.config = parse_config(raw, base_dir=folder)
        self.store = StateStore.open(f"sqlite:///{folder / 'state.db'}")
        self.factory = factory

    def connector(self, name: str) -> Connector:
        endpoint = self.config.endpoints[name]
        if endpoint.connector == "qbo":
            return self.factory(name, endpoint.settings, self.config.base_dir)
        return connector_class(endpoint.connector)(name, endpoint.settings,
                                                   self.config.base_dir)

    def sync(self, mode: RunMode = RunMode.INCREMENTAL) -> Any:
        engine = SyncEngine(self.config, self.store, factory=self.connector)
        return engine.run(RunRequest("l", mode=mode))

    def close(self) -> None:
        self.store.close()
