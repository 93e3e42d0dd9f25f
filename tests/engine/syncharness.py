"""A test harness for the engine: a link between two memory endpoints and a SQLite state store.

Used by the engine tests (plain, crash and convergence). Each harness gets memory stores
with unique names, so tests never see each other's records.

``HarnessConnector`` is the memory connector plus two things the tests need:

- ``log_writes``: the engine's own writes are appended to the change log, as database
  triggers would (the plain memory connector leaves them out), so echo suppression by
  content hash is exercised;
- ``crash``: a :class:`CrashPlan` shared by both endpoints of a run, which makes the N-th
  ``write`` call of the run raise :class:`SimulatedCrash` either before the batch is applied
  or after it was applied but before the engine could settle it.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, settings

from syncline.config import Config, parse_config
from syncline.connectors.base import Connector, ReadScope, WriteBatch, WriteResult
from syncline.connectors.memory import MemoryConnector, MemoryStore, shared_store
from syncline.engine import RunMode, RunRequest, RunSummary, SyncEngine
from syncline.model import field_token
from syncline.plan_types import MappingRow
from syncline.state.store import StateStore

__all__ = [
    "CONTACT_FIELDS",
    "CrashPlan",
    "Harness",
    "HarnessConnector",
    "SimulatedCrash",
    "make_harness",
]

CONTACT_FIELDS = ["email", "name", "phone"]
_names = itertools.count(1)


class SimulatedCrash(Exception):
    """The process "died" in the middle of a run."""


@dataclass
class CrashPlan:
    """Crash at the ``at_write``-th write call (1-based) of a run, ``before`` or ``after``
    the connector applied it."""

    at_write: int
    when: str = "after"
    calls: int = 0
    fired: bool = False

    def check(self, moment: str) -> None:
        if not self.fired and self.calls == self.at_write and moment == self.when:
            self.fired = True
            raise SimulatedCrash(f"crash {moment} write call {self.calls}")


class HarnessConnector(MemoryConnector):
    """See the module docstring."""

    def __init__(self, endpoint: str, settings: Mapping[str, Any], base_dir: Path, *,
                 log_writes: bool = False, crash: CrashPlan | None = None) -> None:
        super().__init__(endpoint, settings, base_dir)
        self.log_writes = log_writes
        self.crash = crash

    def write(self, batch: WriteBatch) -> list[WriteResult]:
        if self.crash is not None:
            self.crash.calls += 1
            self.crash.check("before")
        results = super().write(batch)
        if self.log_writes:
            for result in results:
                if result.ok and result.key is not None:
                    self.data.touch(batch.stream, result.key)
        if self.crash is not None:
            self.crash.check("after")
        return results


@dataclass
class Harness:
    """A link ``l`` between endpoints ``crm`` (side a) and ``books`` (side b)."""

    config: Config
    store: StateStore
    a: MemoryStore
    b: MemoryStore
    link: str = "l"
    log_writes: bool = False
    runs: list[RunSummary] = field(default_factory=list)
    crashed_runs: list[int] = field(default_factory=list)

    # -- running ------------------------------------------------------------------------------
    def engine(self, crash: CrashPlan | None = None,
               connector: type[HarnessConnector] = HarnessConnector) -> SyncEngine:
        def factory(name: str) -> Connector:
            endpoint = self.config.endpoints[name]
            return connector(name, endpoint.settings, self.config.base_dir,
                             log_writes=self.log_writes, crash=crash)

        return SyncEngine(self.config, self.store, factory=factory)

    def sync(self, *, mode: RunMode = RunMode.INCREMENTAL, streams: tuple[str, ...] = (),
             scope: ReadScope | None = None, dry_run: bool = False,
             allow_mass_delete: bool = False, crash: CrashPlan | None = None) -> RunSummary:
        request = RunRequest(self.link, mode=mode, streams=frozenset(streams),
                             scope=scope or ReadScope(), dry_run=dry_run,
                             allow_mass_delete=allow_mass_delete)
        try:
            summary = self.engine(crash).run(request)
        except SimulatedCrash:
            self.crashed_runs.append(int(self.store.runs(self.link, limit=1)[0]["id"]))
            raise
        self.runs.append(summary)
        return summary

    # -- looking ------------------------------------------------------------------------------
    def side(self, side: str) -> MemoryStore:
        return self.a if side == "a" else self.b

    def records(self, side: str, stream: str = "contact") -> dict[str, dict[str, Any]]:
        """key -> fields of every record a side holds."""
        return {key: dict(fields)
                for key, (_, fields, _) in self.side(side).stream(stream).items()}

    def tokens(self, side: str, stream: str = "contact",
               names: list[str] | None = None) -> dict[str, tuple[str, ...]]:
        """key -> canonical tokens of the synced fields (compare records by these)."""
        wanted = names or CONTACT_FIELDS
        return {key: tuple(field_token(fields.get(name)) for name in wanted)
                for key, fields in self.records(side, stream).items()}

    def scope_id(self, stream: str = "contact") -> int:
        return self.store.scope_id(self.link, stream)

    def mappings(self, stream: str = "contact") -> list[MappingRow]:
        return [row for page in self.store.iter_mappings(self.scope_id(stream)) for row in page]

    def pairs(self, stream: str = "contact") -> dict[str, str]:
        """a-key -> b-key of every mapping."""
        return {row.a_key: row.b_key for row in self.mappings(stream)}

    def journal(self, **filters: Any) -> list[dict[str, Any]]:
        return self.store.journal(self.link, limit=None, **filters)

    def assert_converged(self, stream: str = "contact",
                         names: list[str] | None = None) -> None:
        """Both sides hold the same records under the mapping, each mapped exactly once."""
        rows = self.mappings(stream)
        a_tokens = self.tokens("a", stream, names)
        b_tokens = self.tokens("b", stream, names)
        a_keys = [row.a_key for row in rows]
        b_keys = [row.b_key for row in rows]
        assert len(a_keys) == len(set(a_keys)), "an a record is mapped twice"
        assert len(b_keys) == len(set(b_keys)), "a b record is mapped twice"
        assert set(a_keys) == set(a_tokens), (
            f"a records without mapping: {sorted(set(a_tokens) - set(a_keys))}; "
            f"mappings without a record: {sorted(set(a_keys) - set(a_tokens))}")
        assert set(b_keys) == set(b_tokens), (
            f"b records without mapping: {sorted(set(b_tokens) - set(b_keys))}; "
            f"mappings without b record: {sorted(set(b_keys) - set(b_tokens))}")
        for row in rows:
            assert a_tokens[row.a_key] == b_tokens[row.b_key], (row.a_key, row.b_key)
        assert sorted(a_tokens.values()) == sorted(b_tokens.values())

    def leftover_intents(self, stream: str = "contact") -> int:
        return len(self.store.pending_intents(self.scope_id(stream)))


def _endpoint(store_name: str, streams: Mapping[str, list[str]]) -> dict[str, Any]:
    return {"connector": "memory", "name": store_name,
            "streams": {stream: {"fields": list(names)} for stream, names in streams.items()}}


def make_harness(folder: Path, *, streams: Mapping[str, list[str]] | None = None,
                 b_streams: Mapping[str, list[str]] | None = None, conflict: str = "newest",
                 first_sync: str = "merge",
                 direction: str = "both", match: Mapping[str, list[str]] | None = None,
                 max_delete: str | int = "25%", batch_size: int = 2000,
                 log_writes: bool = False, state_url: str | None = None,
                 page_size: int = 500) -> Harness:
    """A fresh harness. ``streams`` are side a's streams and fields (default: contacts with
    name, email, phone); ``b_streams`` side b's (default: the same); ``page_size`` how many
    records the memory endpoints read per page."""
    a_streams = dict(streams or {"contact": CONTACT_FIELDS})
    tag = f"h{next(_names)}-{id(folder):x}"
    a_name, b_name = f"{tag}-crm", f"{tag}-books"
    raw = {
        "endpoints": {"crm": {**_endpoint(a_name, a_streams), "page_size": page_size},
                      "books": {**_endpoint(b_name, dict(b_streams or a_streams)),
                                "page_size": page_size}},
        "links": {"l": {"a": "crm", "b": "books", "streams": list(a_streams),
                        "conflict": conflict, "first_sync": first_sync,
                        "direction": direction,
                        "match": dict(match if match is not None
                                      else {"contact": ["email"]}),
                        "max_delete": max_delete, "batch_size": batch_size}},
    }
    config = parse_config(raw, base_dir=folder)
    store = StateStore.open(state_url or f"sqlite:///{folder / f'{tag}-state.db'}")
    return Harness(config, store, shared_store(a_name), shared_store(b_name),
                   log_writes=log_writes)


def convergence_settings() -> settings:
    """The hypothesis settings of the convergence state machines: examples and steps from
    ``SYNCLINE_CONVERGENCE_EXAMPLES`` / ``_STEPS`` (100 / 30). Shrinking a failure can take
    hypothesis minutes; on CI (or with ``SYNCLINE_CONVERGENCE_SHRINK=0``) the first failing
    example is reported as found, so that each file stays well under a minute either way."""
    shrink = os.environ.get("SYNCLINE_CONVERGENCE_SHRINK",
                            "0" if os.environ.get("CI") == "true" else "1") != "0"
    return settings(
        max_examples=int(os.environ.get("SYNCLINE_CONVERGENCE_EXAMPLES", "100")),
        stateful_step_count=int(os.environ.get("SYNCLINE_CONVERGENCE_STEPS", "30")),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        phases=tuple(Phase) if shrink else (Phase.explicit, Phase.reuse, Phase.generate),
    )


def check_lineage(harness: Harness, origin: dict[tuple[str, str], str], seen: int,
                  keys: Mapping[str, Iterable[str]]) -> int:
    """Check that every record on each side (``keys``: side -> its keys) is journalled as a
    copy of a record ``origin`` knows, and that none is copied twice onto one side (no
    duplicates). ``origin`` maps (side, key) to the user record it copies; it learns the
    copies the journal rows after id ``seen`` made. Returns the last journal row id read."""
    rows = sorted((row for row in harness.journal(outcome="ok") if row["id"] > seen),
                  key=lambda row: row["id"])
    for row in rows:
        seen = max(seen, int(row["id"]))
        if row["action"] not in ("A", "R"):
            continue
        source, made = (("a", row["a_key"]), ("b", row["b_key"])) \
            if row["direction"] == "a>b" else (("b", row["b_key"]), ("a", row["a_key"]))
        if source in origin and made not in origin:
            origin[made] = origin[source]
    for side, side_keys in keys.items():
        found = list(side_keys)
        unknown = [key for key in found if (side, key) not in origin]
        assert not unknown, f"records on {side} that no journal row accounts for: {unknown}"
        origins = [origin[(side, key)] for key in found]
        twice = sorted({o for o in origins if origins.count(o) > 1})
        assert not twice, f"records copied twice onto {side}: {twice}"
    return seen
