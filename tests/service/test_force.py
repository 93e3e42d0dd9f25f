"""Forced mass resynchronisation: what each criterion selects (a property test against a
brute-force filter), related records, R rows in the journal, the forced side winning, and
crashes between marking and writing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncline.config import Config
from syncline.connectors.base import WriteBatch, WriteResult
from syncline.connectors.memory import MemoryConnector
from syncline.engine import RunMode, RunRequest, SyncEngine
from syncline.errors import EndpointUnavailable, UsageError
from syncline.journal import JournalRow
from syncline.model import Side
from syncline.service import ForceCriteria, SyncService
from syncline.service.force import select_records
from syncline.state.service_store import marked_count, marked_keys
from syncline.state.store import StateStore

from .support import STREAM_FIELDS, MemoryLink, memory_link

STREAMS = ["contact", "task", "event", "invoice"]
DAY0 = date(2030, 1, 1)


@pytest.fixture
def link(tmp_path: Path) -> MemoryLink:
    return memory_link(tmp_path, streams=["organisation", *STREAMS])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    opened = StateStore.open(f"sqlite:///{tmp_path}/state.db")
    yield opened
    opened.close()


# -- the property test ------------------------------------------------------------------------

def _moment(day: int, hour: int) -> datetime:
    return datetime(2030, 1, 1, tzinfo=UTC) + timedelta(days=day, hours=hour)


record_strategy = st.fixed_dictionaries({
    "key": st.text("abcdef0123", min_size=1, max_size=3),
    "owner": st.sampled_from([None, "alice", "Alice ", "bob", ""]),
    "day": st.integers(0, 20), "hour": st.integers(0, 23),
    "due_day": st.one_of(st.none(), st.integers(0, 20)),
    "modified_day": st.integers(0, 20),
})
bound = st.one_of(st.none(), st.tuples(st.integers(-1, 21), st.integers(0, 23)))


@st.composite
def criteria_strategy(draw: st.DrawFn) -> ForceCriteria:
    def when(value: tuple[int, int] | None, *, date_only: bool) -> datetime | None:
        if value is None:
            return None
        if date_only and draw(st.booleans()):  # a date on the command line: whole days
            return _moment(value[0], 0)
        return _moment(*value)

    return ForceCriteria(
        streams=tuple(draw(st.lists(st.sampled_from(STREAMS), unique=True, max_size=3))),
        from_key=draw(st.one_of(st.none(), st.text("abcdef0123", max_size=2))),
        to_key=draw(st.one_of(st.none(), st.text("abcdef0123", max_size=2))),
        since=when(draw(bound), date_only=True), until=when(draw(bound), date_only=True),
        due_from=when(draw(bound), date_only=True) if draw(st.booleans()) else None,
        due_to=when(draw(bound), date_only=False) if draw(st.booleans()) else None,
        owner=draw(st.sampled_from([None, None, "alice", "bob", "carol"])),
    )


def _fields(stream: str, spec: dict[str, Any]) -> dict[str, Any]:
    moment = _moment(spec["day"], spec["hour"])
    due_day = spec["due_day"]
    values: dict[str, Any] = {"owner": spec["owner"]}
    if stream == "contact":
        values.update(name=f"n{spec['key']}", email=f"{spec['key']}@example.com")
    elif stream == "task":
        values.update(uid=spec["key"], summary="t",
                      due=_moment(due_day, spec["hour"]) if due_day is not None else None)
    elif stream == "event":
        values.update(uid=spec["key"], summary="e", start=moment)
    else:
        values.update(number=spec["key"], date=moment.date(),
                      due_date=(DAY0 + timedelta(days=due_day)) if due_day is not None
                      else None)
    return values


def _brute_force(criteria: ForceCriteria, data: dict[str, list[dict[str, Any]]],
                 link_streams: list[str]) -> dict[str, set[str]]:
    """The documented rules, written out plainly, record by record."""
    out: dict[str, set[str]] = {}
    for stream in criteria.streams or link_streams:
        if (criteria.due_from or criteria.due_to) and stream not in ("task", "invoice"):
            continue
        chosen: set[str] = set()
        for spec in {spec["key"]: spec for spec in data.get(stream, [])}.values():
            key = spec["key"]
            if criteria.from_key is not None and key < criteria.from_key:
                continue
            if criteria.to_key is not None and key > criteria.to_key:
                continue
            # record date: invoice date (a day), event start, else the modification time
            if stream == "invoice":
                day = (DAY0 + timedelta(days=spec["day"]))
                if criteria.since and day < criteria.since.date():
                    continue
                if criteria.until and day > criteria.until.date():
                    continue
            else:
                moment = _moment(spec["day"], spec["hour"]) if stream == "event" \
                    else _moment(spec["modified_day"], 12)
                if criteria.since and moment < criteria.since:
                    continue
                if criteria.until and moment > criteria.until:
                    continue
            if criteria.due_from or criteria.due_to:
                if spec["due_day"] is None:
                    continue
                if stream == "invoice":
                    due: Any = DAY0 + timedelta(days=spec["due_day"])
                    low = criteria.due_from.date() if criteria.due_from else None
                    high = criteria.due_to.date() if criteria.due_to else None
                else:
                    due = _moment(spec["due_day"], spec["hour"])
                    low, high = criteria.due_from, criteria.due_to
                if (low is not None and due < low) or (high is not None and due > high):
                    continue
            if criteria.owner is not None and \
                    (spec["owner"] or "").strip().lower() != criteria.owner:
                continue
            chosen.add(key)
        out[stream] = chosen
    return out


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.fixed_dictionaries({stream: st.lists(record_strategy, max_size=8)
                                   for stream in STREAMS}),
       criteria=criteria_strategy())
def test_each_criterion_selects_exactly_the_right_records(
        link: MemoryLink, data: dict[str, list[dict[str, Any]]],
        criteria: ForceCriteria) -> None:
    settings_ = {"name": f"prop-{uuid.uuid4().hex}",
                 "streams": {stream: {"fields": STREAM_FIELDS[stream]}
                             for stream in ["organisation", *STREAMS]}}
    connector = MemoryConnector("left", settings_, Path("."))
    for stream, specs in data.items():
        for spec in specs:
            connector.data.put(stream, spec["key"], _fields(stream, spec),
                               when=_moment(spec["modified_day"], 12))
    config = link.config()
    expected = _brute_force(criteria, data, ["organisation", *STREAMS])
    try:
        selection = select_records("lr", config.link("lr"), connector, criteria)
    except UsageError:  # no chosen stream has the fields the criteria ask for
        assert not expected
        return
    got = {stream: set(selection.keys(stream)) for stream in selection.records}
    assert got == expected
    assert selection.total == sum(len(keys) for keys in expected.values())


# -- related records ---------------------------------------------------------------------------

def _seed_related(link: MemoryLink) -> None:
    a = link.a
    a.put("organisation", "o1", {"name": "Acme", "owner": "alice"})
    a.put("contact", "c1", {"name": "Ann", "email": "ann@x.org", "organisation": "o1"})
    a.put("contact", "c2", {"name": "Ben", "email": "ben@x.org"})
    a.put("contact", "c3", {"name": "Cy", "email": "cy@x.org"})
    a.put("task", "t1", {"uid": "t1", "summary": "call", "contact": "c1", "owner": "alice"})
    a.put("task", "t2", {"uid": "t2", "summary": "mail", "contact": "c2", "owner": "bob"})
    a.put("event", "e1", {"uid": "e1", "summary": "visit", "contact": "c3",
                          "owner": "alice", "start": datetime(2030, 1, 5, tzinfo=UTC)})
    a.put("invoice", "i1", {"number": "INV-1", "contact": "c2", "owner": "alice",
                            "date": date(2030, 1, 2)})


def test_related_records_are_included_only_when_asked(link: MemoryLink,
                                                      store: StateStore) -> None:
    _seed_related(link)
    config = link.config()
    SyncEngine(config, store).run(RunRequest("lr"))
    service = SyncService(config, store)
    try:
        plain = service.force("lr", ForceCriteria(owner="alice", streams=("task", "event")))
        assert {s: sorted(plain.selection.keys(s)) for s in plain.selection.records} == \
            {"task": ["t1"], "event": ["e1"]}
        assert plain.selection.related == 0
        related = service.force("lr", ForceCriteria(owner="alice", with_related=True,
                                                    streams=("task", "event", "invoice")))
        found = {s: sorted(related.selection.keys(s)) for s in related.selection.records}
        # the contacts of the forced task and event, and the customer of the invoice; not
        # Ann's organisation (one level), not bob's task's contact through the task
        assert found == {"task": ["t1"], "event": ["e1"], "invoice": ["i1"],
                         "contact": ["c1", "c2", "c3"]}
        assert related.selection.related == 3
        reasons = dict(related.selection.records["contact"])
        assert reasons["c1"] == "related: contact of task t1"
        assert reasons["c2"] == "related: contact of invoice i1"
    finally:
        service.shutdown()
    scope = store.scope_id("lr", "contact")
    assert marked_keys(store, scope, "a") == {"c1", "c2", "c3"}


# -- the engine writes them with R -------------------------------------------------------------

def _journal(store: StateStore, run_id: int) -> list[tuple[str, str, str, str | None, str]]:
    rows = store.journal("lr", run_id=run_id, limit=None)
    return sorted((row["stream"], row["action"], row["direction"], row["a_key"],
                   row["outcome"]) for row in rows)


def test_marked_records_are_written_with_R_and_the_marks_cleared(link: MemoryLink,
                                                                 store: StateStore) -> None:
    _seed_related(link)
    config = link.config()
    engine = SyncEngine(config, store)
    engine.run(RunRequest("lr"))
    b_before = {stream: dict(records) for stream, records in link.b.records.items()}
    service = SyncService(config, store)
    try:
        service.force("lr", ForceCriteria(streams=("contact",), from_key="c2"))
    finally:
        service.shutdown()
    assert marked_count(store, "lr") == 2
    idle = engine.run(RunRequest("lr", streams=frozenset({"task"})))  # other streams: marks wait
    assert idle.streams["task"].R == 0
    assert marked_count(store, "lr") == 2
    summary = engine.run(RunRequest("lr", mode=RunMode.FORCED))
    assert summary.mode is RunMode.FORCED
    assert summary.streams["contact"].R == 2
    assert _journal(store, summary.run_id or 0) == [
        ("contact", "R", "a>b", "c2", "ok"), ("contact", "R", "a>b", "c3", "ok")]
    assert marked_count(store, "lr") == 0
    # the records were sent again (new versions on b), nothing duplicated
    assert set(link.b.stream("contact")) == set(b_before["contact"])
    changed = {key for key, value in link.b.stream("contact").items()
               if value[0] != b_before["contact"][key][0]}
    assert len(changed) == 2
    again = engine.run(RunRequest("lr"))
    assert again.streams["contact"].R == 0  # cleared: not sent a third time


def test_the_forced_side_wins_over_a_change_on_the_other_side(link: MemoryLink,
                                                              store: StateStore) -> None:
    link.a.put("contact", "c1", {"name": "Ann", "email": "ann@x.org"})
    config = link.config()
    engine = SyncEngine(config, store)
    engine.run(RunRequest("lr"))
    (b_key,) = link.b.stream("contact")
    link.b.put("contact", b_key, {"name": "Ann on b", "email": "ann@x.org"})
    service = SyncService(config, store)
    try:
        service.force("lr", ForceCriteria(source=Side.A))
    finally:
        service.shutdown()
    summary = engine.run(RunRequest("lr"))
    assert summary.mode is RunMode.INCREMENTAL  # a plain run writes waiting marks too
    assert summary.streams["contact"].R == 1
    assert link.b.stream("contact")[b_key][1]["name"] == "Ann"
    assert link.a.stream("contact")["c1"][1]["name"] == "Ann"


def test_force_from_b_and_unmapped_records(link: MemoryLink, store: StateStore) -> None:
    config = link.config()
    link.b.put("contact", "r1", {"name": "Rita", "email": "rita@x.org"})
    service = SyncService(config, store)
    try:
        result = service.force("lr", ForceCriteria(source=Side.B))
    finally:
        service.shutdown()
    assert result.side is Side.B and result.endpoint == "right"
    summary = SyncEngine(config, store).run(RunRequest("lr"))
    rows = store.journal("lr", run_id=summary.run_id, limit=None)
    assert [(row["action"], row["direction"], row["b_key"]) for row in rows] == \
        [("R", "b>a", "r1")]
    assert [fields["name"] for _, fields, _ in link.a.stream("contact").values()] == ["Rita"]
    assert marked_count(store, "lr") == 0


def test_a_one_way_link_forces_from_its_source_only(tmp_path: Path, store: StateStore) -> None:
    pair = memory_link(tmp_path, link_extra='direction = "a-to-b"')
    service = SyncService(pair.config(), store)
    try:
        with pytest.raises(UsageError, match="from a only"):
            service.force("lr", ForceCriteria(source=Side.B))
        with pytest.raises(UsageError, match="does not sync invoice"):
            service.force("lr", ForceCriteria(streams=("invoice",)))
        with pytest.raises(UsageError, match="no due date"):
            service.force("lr", ForceCriteria(due_from=datetime(2030, 1, 1, tzinfo=UTC)))
    finally:
        service.shutdown()


# -- crashes -----------------------------------------------------------------------------------

class DiesAfterWriting(MemoryConnector):
    """Applies a batch, then "dies" before the engine can record the results."""

    def write(self, batch: WriteBatch) -> list[WriteResult]:
        super().write(batch)
        raise KeyboardInterrupt("killed after the write")


def _factory(config: Config, dying: set[str]) -> Any:
    def make(name: str) -> MemoryConnector:
        settings_ = config.endpoints[name].settings
        cls = DiesAfterWriting if name in dying else MemoryConnector
        return cls(name, settings_, config.base_dir)
    return make


def test_a_crash_between_marking_and_writing_keeps_the_marks(link: MemoryLink,
                                                             store: StateStore) -> None:
    for number in range(1, 4):
        link.a.put("contact", f"c{number}", {"name": f"P{number}", "email": f"{number}@x.org"})
    config = link.config()
    SyncEngine(config, store).run(RunRequest("lr"))
    service = SyncService(config, store)
    try:
        service.force("lr", ForceCriteria())
    finally:
        service.shutdown()
    link.b.unavailable = True  # the run fails before writing anything
    with pytest.raises(EndpointUnavailable):
        SyncEngine(config, store).run(RunRequest("lr"))
    assert marked_count(store, "lr") == 3
    link.b.unavailable = False
    versions = {key: value[0] for key, value in link.b.stream("contact").items()}
    with pytest.raises(KeyboardInterrupt):  # written on b, killed before it was recorded
        SyncEngine(config, store, _factory(config, {"right"})).run(RunRequest("lr"))
    assert marked_count(store, "lr") == 3  # not recorded as written: still marked
    assert all(link.b.stream("contact")[key][0] != version
               for key, version in versions.items())
    summary = SyncEngine(config, store).run(RunRequest("lr"))
    assert any("settled" in message for message in summary.messages)
    assert marked_count(store, "lr") == 0
    rows = store.journal("lr", run_id=summary.run_id, limit=None)
    assert sorted((row["action"], row["a_key"]) for row in rows) == \
        [("R", "c1"), ("R", "c2"), ("R", "c3")]
    assert len(link.b.stream("contact")) == 3  # nothing duplicated


def test_force_now_through_the_service_runs_a_forced_run(link: MemoryLink,
                                                         store: StateStore) -> None:
    link.a.put("contact", "c1", {"name": "Ann", "email": "ann@x.org"})
    config = link.config()
    SyncEngine(config, store).run(RunRequest("lr"))
    service = SyncService(config, store)
    try:
        service.start()
        service.force("lr", ForceCriteria(), requested_by="admin", now=True)
        assert service.wait_idle(20.0)
        (request,) = service.completed("lr")
        assert (request.mode, request.requested_by) == (RunMode.FORCED, ("admin",))
    finally:
        service.shutdown()
    (run, _) = store.runs("lr", limit=2)
    assert (run["trigger"], run["mode"], run["user"], run["outcome"]) == \
        ("force", "forced", "admin", "ok")
    assert run["counts"]["contact"]["R"] == 1
    assert marked_count(store, "lr") == 0


def test_a_mark_renewed_during_a_run_is_not_cleared_by_it(store: StateStore) -> None:
    from syncline.state.service_store import (
        add_force_request,
        clear_written_marks,
        mark_ceiling,
        mark_records,
    )

    scope = store.scope_id("lr", "contact")
    request = add_force_request(store, link="lr", side="a", criteria={}, requested_by=None,
                                log_path=None)
    mark_records(store, request_id=request, scope_id=scope, side="a",
                 keys=[("c1", "selected"), ("c2", "selected")])
    run_id = store.start_run(link="lr", trigger="manual", mode="forced", scope={}, user=None,
                             dry_run=False, started_at=datetime.now(UTC))
    ceiling = mark_ceiling(store)
    assert marked_keys(store, scope, "a", run_id) == {"c1", "c2"}
    # while the run goes on: c2 is marked again by a new request, then both are written
    again = add_force_request(store, link="lr", side="a", criteria={}, requested_by=None,
                              log_path=None)
    mark_records(store, request_id=again, scope_id=scope, side="a", keys=[("c2", "again")])
    store.settle(scope_id=scope, run_id=run_id, journal_rows=[
        JournalRow(run_id, scope, "c1", "b1", "R", "a>b", "ok", None),
        JournalRow(run_id, scope, "c2", "b2", "R", "a>b", "ok", None)])
    assert marked_keys(store, scope, "a", run_id) == set()  # not sent twice by this run
    assert clear_written_marks(store, scope_id=scope, run_id=run_id, ceiling=ceiling) == 1
    assert marked_keys(store, scope, "a") == {"c2"}  # the newer mark waits for the next run
