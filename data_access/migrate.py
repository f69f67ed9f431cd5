"""Schema versions: Alembic upgrades, run on an open connection inside the caller's transaction."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.ddl.impl import DefaultImpl
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

_INI = Path(__file__).resolve().parent / "alembic.ini"


class AlembicDuckDBImpl(DefaultImpl):
    """Alembic has no DuckDB implementation of its own; the default one suffices.

    Defined here (not only in migrations/env.py) so that reading the revision of a DuckDB
    database works in a process that has not run a migration.
    """

    __dialect__ = "duckdb"


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """Alembic configuration for this project, bound to ``connection`` when given."""
    config = Config(str(_INI))
    config.set_main_option("script_location", str(_INI.parent / "migrations"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest schema revision this code knows."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(conn: sa.Connection) -> str | None:
    """The revision the database is at (None for a database without the schema)."""
    return MigrationContext.configure(conn).get_current_revision()


def upgrade(conn: sa.Connection) -> None:
    """Bring the schema to the newest revision (creates every table on an empty database)."""
    command.upgrade(alembic_config(conn), "head")
