"""The ``sql`` connector: streams kept in tables of SQLite, PostgreSQL or MariaDB.

Modules, by concern:

- :mod:`.settings`: the ``[endpoints.NAME]`` settings, checked without connecting;
- :mod:`.connection`: the engine per dialect, driver errors -> syncline errors;
- :mod:`.binding`: settings joined with the reflected tables;
- :mod:`.coerce`: column values <-> canonical values;
- :mod:`.capture`: change-log and batch-log tables, triggers, echo suppression;
- :mod:`.position`: cursor arithmetic (pure);
- :mod:`.reading`, :mod:`.changes`: reading in full / incrementally;
- :mod:`.writing`: batches, per-item fallback, crash recovery;
- :mod:`.connector`: :class:`SqlConnector`, tying them together.
"""

from __future__ import annotations

from syncline.connectors.sql.connector import SqlConnector

__all__ = ["SqlConnector"]
