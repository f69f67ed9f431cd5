"""Alembic environment: upgrades the dashboard's schema on DuckDB or PostgreSQL.

Run from the project folder with ``alembic -c data_access/alembic.ini upgrade head`` (the URL comes
from DATABASE_URL, or the embedded default), or programmatically through
:func:`data_access.migrate.upgrade`, which passes an open connection in ``config.attributes``.
"""

from alembic import context

from data_access import schema
from data_access.engine import database_url, make_engine
from data_access.migrate import AlembicDuckDBImpl  # noqa: F401  registers the DuckDB dialect


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=schema.metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(context.config.get_main_option("sqlalchemy.url") or database_url())
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=schema.metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
