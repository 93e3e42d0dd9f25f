"""Planner statistics of a PostgreSQL state store, refreshed by the runs that change them.

PostgreSQL plans a query from statistics of its tables that ``ANALYZE`` gathers; autovacuum
runs it some time after many rows changed. A first sync that adds a million mappings ends
long before that, and the next run would be planned as if ``mappings`` were nearly empty:
keyset pages of mappings (:meth:`~syncline.state.store.StateStore.iter_mappings`) then
read the whole scope and sort it for every page of 5,000, so a run that pages through
them grows with the square of the table (measured: 42 ms a page at 300,000 mappings
without statistics, 1 ms with them). So a run that changed a large share of a table
analyses it at its end, as ``pg_restore`` users are told to after a bulk load.

stale
    A table whose rows changed since its last ``ANALYZE`` by at least
    :data:`MIN_CHANGED_ROWS` and at least :data:`MIN_CHANGED_SHARE` of its rows (what
    autovacuum waits for, by default, is a tenth).
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

__all__ = ["MIN_CHANGED_ROWS", "MIN_CHANGED_SHARE", "TABLES", "refresh_statistics"]

log = logging.getLogger("syncline.state")

TABLES = ("mappings", "journal")
"""The tables whose plans the engine's queries depend on."""
MIN_CHANGED_ROWS = 10_000
MIN_CHANGED_SHARE = 0.1


def refresh_statistics(engine: Engine) -> list[str]:
    """On PostgreSQL, ``ANALYZE`` the :data:`TABLES` that are stale (see the module
    docstring); the names of those analysed. Does nothing on other databases. Never
    raises for a refusal (a role that may not analyse the table): it logs it, since the
    statistics only make queries faster."""
    if engine.dialect.name != "postgresql":
        return []
    try:
        with engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT relname, n_live_tup, n_mod_since_analyze FROM pg_stat_user_tables "
                "WHERE schemaname = current_schema() AND relname = ANY(:names)"),
                {"names": list(TABLES)}).all()
        stale = [str(name) for name, live, changed in rows
                 if changed >= max(MIN_CHANGED_ROWS, MIN_CHANGED_SHARE * live)]
        if stale:
            with engine.begin() as connection:
                connection.exec_driver_sql("ANALYZE " + ", ".join(stale))
    except SQLAlchemyError as error:
        log.warning("the state store's statistics could not be refreshed: %s", error)
        return []
    return stale
