"""Engine factory and the write path, for DuckDB (the embedded default) and PostgreSQL.

DATABASE_URL selects the database; when it is unset the dashboard uses an embedded DuckDB file
at ``var/csp_dashboard.duckdb`` in the project folder.

DuckDB lets one process write a file, or many read it, not both. The dashboard (many sessions,
reading) and an import (writing) must both carry on, so a DuckDB database is a *generation* scheme:

- the path in the URL is a symbolic link to the current generation file
  (``csp_dashboard.duckdb -> csp_dashboard.g20261121T073500123456.duckdb``);
- readers open the generation file read-only (:func:`reader_engine`), and notice a new generation
  cheaply with :func:`database_generation` (one ``readlink``);
- a writer (:func:`write_transaction`) takes a file lock, copies the current generation, writes
  the copy in one transaction, checkpoints it and atomically re-points the link. A failed import
  deletes its copy, so it changes nothing. Old generations are pruned once no longer current.

PostgreSQL needs none of this: an import is one transaction and readers see the old data until it
commits. Readers connect with ``default_transaction_read_only`` and a ``statement_timeout``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DUCKDB_PATH = PROJECT_ROOT / "var" / "csp_dashboard.duckdb"
DUCKDB_CONFIG = {"threads": 2, "memory_limit": "2GB"}
READER_STATEMENT_TIMEOUT_MS = 30_000
_GENERATIONS_KEPT = 2


def database_url() -> str:
    """The configured database URL: DATABASE_URL, or the embedded DuckDB default."""
    url = os.environ.get("DATABASE_URL", "").strip()
    return url or f"duckdb:///{DEFAULT_DUCKDB_PATH}"


def is_duckdb(url: str) -> bool:
    """True when ``url`` names a DuckDB database."""
    return make_url(url).get_backend_name() == "duckdb"


def is_default_database(url: str) -> bool:
    """True for the embedded default, which the app fills with sample data on first run."""
    return url == f"duckdb:///{DEFAULT_DUCKDB_PATH}"


def safe_url(url: str) -> str:
    """The URL with any password hidden, for messages and the data status page."""
    return make_url(url).render_as_string(hide_password=True)


def duckdb_path(url: str) -> Path:
    """The file path in a DuckDB URL (the stable link path, not a generation file)."""
    database = make_url(url).database
    if not database or database == ":memory:":
        raise ValueError("an in-memory DuckDB database cannot be shared between processes")
    # abspath, not resolve: the path is a link to the current generation and must stay one.
    return Path(os.path.abspath(os.path.expanduser(database)))


def database_generation(url: str) -> str:
    """A token that changes whenever a writer publishes new data (cheap: one readlink or stat).

    For PostgreSQL the token is constant: readers see committed data through ordinary MVCC.
    """
    if not is_duckdb(url):
        return "server"
    path = duckdb_path(url)
    try:
        return os.readlink(path)
    except FileNotFoundError:
        return "missing"
    except OSError:  # a plain file (not yet converted to the generation scheme)
        stat = path.stat()
        return f"{stat.st_ino}:{stat.st_mtime_ns}"


def database_exists(url: str) -> bool:
    """Whether the database holds the dashboard's schema (for DuckDB, whether the file exists)."""
    if is_duckdb(url):
        return duckdb_path(url).exists()
    engine = make_engine(url)
    try:
        return sa.inspect(engine).has_table("incidents")
    finally:
        engine.dispose()


def make_engine(url: str, *, read_only: bool = False, **kwargs) -> sa.Engine:
    """An engine for ``url``; read-only engines refuse writes at the database level."""
    if is_duckdb(url):
        path = duckdb_path(url)
        target = Path(os.path.realpath(path)) if path.exists() else path
        config = dict(DUCKDB_CONFIG)
        config.update(kwargs.pop("duckdb_config", {}))
        return sa.create_engine(
            f"duckdb:///{target}",
            connect_args={"read_only": read_only, "config": config},
            **kwargs,
        )
    connect_args = {}
    if read_only:
        connect_args["options"] = (
            "-c default_transaction_read_only=on "
            f"-c statement_timeout={READER_STATEMENT_TIMEOUT_MS}"
        )
    return sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)


def reader_engine(url: str) -> sa.Engine:
    """A read-only engine for the dashboard's pages."""
    return make_engine(url, read_only=True)


@contextlib.contextmanager
def file_lock(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _new_generation_path(link: Path) -> Path:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    return link.with_name(f"{link.stem}.g{stamp}-{os.getpid()}{link.suffix}")


def _publish(link: Path, generation: Path) -> None:
    """Atomically point ``link`` at ``generation`` (rename of a fresh symlink over the old)."""
    tmp_link = link.with_name(f".{link.name}.{os.getpid()}.link")
    with contextlib.suppress(FileNotFoundError):
        tmp_link.unlink()
    os.symlink(generation.name, tmp_link)
    os.replace(tmp_link, link)


def _prune_generations(link: Path, current: Path) -> None:
    pattern = f"{link.stem}.g*{link.suffix}"
    older = sorted((p for p in link.parent.glob(pattern) if p != current), reverse=True)
    # Keep the newest old generation: a reader that has just resolved the link may still open it.
    for stale in older[_GENERATIONS_KEPT - 1:]:
        for path in (stale, stale.with_name(stale.name + ".wal")):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


@contextlib.contextmanager
def write_transaction(url: str, *, fresh: bool = False) -> Iterator[sa.Connection]:
    """One all-or-nothing write: yields a connection inside a transaction.

    On success the change is committed (PostgreSQL) or published as a new DuckDB generation; on
    any exception nothing is changed and the exception propagates. ``fresh`` starts an empty DuckDB
    database instead of copying the current one (used to build the default database).
    """
    if not is_duckdb(url):
        engine = make_engine(url)
        try:
            with engine.begin() as conn:
                yield conn
        finally:
            engine.dispose()
        return

    link = duckdb_path(url)
    with file_lock(link.with_name(link.name + ".lock")):
        current = Path(os.path.realpath(link)) if link.exists() else None
        generation = _new_generation_path(link)
        if current is not None and not fresh:
            shutil.copyfile(current, generation)
        engine = sa.create_engine(
            f"duckdb:///{generation}", connect_args={"config": dict(DUCKDB_CONFIG)},
            poolclass=sa.pool.NullPool,
        )
        try:
            with engine.begin() as conn:
                yield conn
            with engine.connect() as conn:
                conn.exec_driver_sql("CHECKPOINT")
            engine.dispose()
        except BaseException:
            engine.dispose()
            for path in (generation, generation.with_name(generation.name + ".wal")):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            raise
        if current is not None and not link.is_symlink():
            # First write to a plain DuckDB file: keep it aside, then switch to the link scheme.
            os.replace(current, link.with_name(f"{link.stem}.g00000000-original{link.suffix}"))
        _publish(link, generation)
        _prune_generations(link, generation)
