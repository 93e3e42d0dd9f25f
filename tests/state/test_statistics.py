"""A run that changed a large share of the state store's mappings leaves PostgreSQL's
planner statistics fresh, so that the next run's keyset pages of mappings read one page,
not the whole scope (see :mod:`syncline.state.statistics`)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import select

from syncline.state import schema as t
from syncline.state.statistics import MIN_CHANGED_ROWS, refresh_statistics
from syncline.state.store import StateStore, now

LINK = "crm-books"


def _analyses(store: StateStore) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(sa.text(
            "SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'mappings' "
            "AND schemaname = current_schema()")).scalar_one())


def _add_mappings(store: StateStore, scope_id: int, first: int, count: int) -> None:
    with store.engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO mappings (scope_id, a_key, b_key, run_id) SELECT :scope, g::text, "
            "g::text, 1 FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) g"),
            {"scope": scope_id, "first": first, "last": first + count - 1})
        connection.execute(sa.text("SELECT pg_stat_force_next_flush()"))


def _page_plan(store: StateStore, scope_id: int) -> str:
    query = (select(t.mappings).where(t.mappings.c.scope_id == scope_id, t.mappings.c.id > 0)
             .order_by(t.mappings.c.id).limit(5000))
    compiled = str(query.compile(store.engine, compile_kwargs={"literal_binds": True}))
    with store.engine.connect() as connection:
        return "\n".join(connection.exec_driver_sql("EXPLAIN " + compiled).scalars())


def _finish(store: StateStore) -> None:
    run_id = store.start_run(link=LINK, trigger="manual", mode="incremental", scope={},
                             user=None, dry_run=False, started_at=now())
    store.finish_run(run_id, outcome="ok", finished_at=now(), duration_s=1.0, counts={},
                     message=None)


def test_a_run_that_added_many_mappings_analyses_them(postgres_url: str) -> None:
    store = StateStore.open(postgres_url)
    try:
        scope_id = store.scope_id(LINK, "contact")
        with store.engine.begin() as connection:  # no analysis but the run's in this test
            connection.exec_driver_sql("ALTER TABLE mappings SET (autovacuum_enabled = off)")
        _add_mappings(store, scope_id, 1, 3 * MIN_CHANGED_ROWS)
        assert "Sort" in _page_plan(store, scope_id)  # planned as if the table were empty
        before = _analyses(store)
        _finish(store)
        assert _analyses(store) == before + 1
        plan = _page_plan(store, scope_id)
        assert "Sort" not in plan and "Index Scan" in plan, plan
        _add_mappings(store, scope_id, 3 * MIN_CHANGED_ROWS + 1, 100)  # a small run
        _finish(store)
        assert _analyses(store) == before + 1
        assert refresh_statistics(store.engine) == []
    finally:
        store.close()


def test_nothing_is_analysed_on_sqlite(tmp_path: object) -> None:
    store = StateStore.open(f"sqlite:///{tmp_path}/state.db")
    try:
        assert refresh_statistics(store.engine) == []
    finally:
        store.close()
