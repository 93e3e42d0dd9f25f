"""Alembic environment: migrations run on the connection the state store hands over."""

from __future__ import annotations

from alembic import context

from syncline.state.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only with the alembic command line
    from sqlalchemy import create_engine

    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as opened:
        context.configure(connection=opened, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
