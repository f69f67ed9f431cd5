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

When the database fails rather than the query: :func:`failure_kind` tells a database that is not
answering (stopped, restarting, unreachable), too slow or read-only from any other error, so the
pages can say so in plain words. Engines test a pooled PostgreSQL connection before using it
(``pool_pre_ping``): after a server restart the dead connections are replaced, and the app works
again without a restart. :func:`write_transaction` turns such failures into
:class:`DatabaseUnavailable` or :class:`DatabaseReadOnly`, whose message says what happened and
that nothing was changed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import logging
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
# Seconds to wait for a PostgreSQL server to accept a connection: a server that is down answers
# at once ("connection refused"), but an unreachable host would otherwise hold a page for minutes.
CONNECT_TIMEOUT_S = 5
_GENERATIONS_KEPT = 2

logger = logging.getLogger(__name__)

# --- failures of the database itself ---------------------------------------------------------

UNAVAILABLE = "unavailable"  # not answering: stopped, restarting, unreachable, out of connections
TIMEOUT = "timeout"  # answering, but a statement ran past its time limit
READ_ONLY = "read_only"  # answering, but refusing writes

# PostgreSQL SQLSTATE codes (appendix A of the PostgreSQL manual).
_PG_READ_ONLY = ("25006",)  # read_only_sql_transaction (also a hot standby)
_PG_TIMEOUT = ("57014",)  # query_canceled, e.g. by statement_timeout
_PG_UNAVAILABLE_PREFIXES = ("08", "57P")  # connection exceptions; admin/crash shutdown, starting up
_PG_UNAVAILABLE = ("53300",)  # too_many_connections
_OS_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)


class DatabaseFault(Exception):
    """A failure of the database itself, with a message for the person who asked (what happened,
    and that nothing was changed); the original error is the ``__cause__``."""

    kind = UNAVAILABLE


class DatabaseUnavailable(DatabaseFault):
    """The database did not answer."""

    kind = UNAVAILABLE


class DatabaseReadOnly(DatabaseFault):
    """The database (or, for DuckDB, its folder) refuses writes."""

    kind = READ_ONLY


def _sqlstate(error: BaseException) -> str | None:
    return getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)


def _is_a(error: BaseException, modules: tuple[str, ...], name: str) -> bool:
    """True when ``error`` is (a subclass of) the driver class ``name`` of one of ``modules``
    (checked by name: the drivers need not be installed)."""
    return any(cls.__name__ == name and (cls.__module__ or "").split(".")[0] in modules
               for cls in type(error).__mro__)


def _kind_of(error: BaseException) -> str | None:
    if isinstance(error, DatabaseFault):
        return error.kind
    if isinstance(error, sa.exc.TimeoutError):  # no pooled connection free in time
        return UNAVAILABLE
    if isinstance(error, sa.exc.DBAPIError):
        if error.connection_invalidated:
            return UNAVAILABLE
        return _kind_of(error.orig) if error.orig is not None else None
    if isinstance(error, ConnectionError):
        return UNAVAILABLE
    if isinstance(error, OSError):
        return READ_ONLY if error.errno in _OS_READ_ONLY else None
    code = _sqlstate(error)
    if code:
        if code in _PG_READ_ONLY:
            return READ_ONLY
        if code in _PG_TIMEOUT:
            return TIMEOUT
        if code in _PG_UNAVAILABLE or code.startswith(_PG_UNAVAILABLE_PREFIXES):
            return UNAVAILABLE
        return None
    if _is_a(error, ("psycopg", "psycopg2"), "OperationalError"):
        return UNAVAILABLE  # no SQLSTATE: refused, lost or timed-out connections
    if _is_a(error, ("duckdb", "_duckdb"), "IOException"):
        text = str(error).lower()
        if "read-only file system" in text or "permission denied" in text \
                or "operation not permitted" in text:
            return READ_ONLY
        if "no space left" in text:
            return None  # a full disk is its own message
        return UNAVAILABLE  # the database file cannot be opened or read
    return None


def failure_kind(error: BaseException) -> str | None:
    """:data:`UNAVAILABLE`, :data:`TIMEOUT` or :data:`READ_ONLY` when ``error`` is a failure of
    the database itself (not of a query or of the program), else None."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        kind = _kind_of(current)
        if kind is not None:
            return kind
        current = current.__cause__  # explicit chaining only: a later, unrelated error says nothing
    return None


def error_summary(error: BaseException) -> str:
    """The first line of the driver's message, for logs and operators (no traceback)."""
    inner = error.orig if isinstance(error, sa.exc.DBAPIError) and error.orig is not None else error
    lines = [line.strip() for line in str(inner).splitlines() if line.strip()]
    text = lines[0] if lines else type(inner).__name__
    return text if len(text) <= 200 else text[:199] + "…"


def as_fault(error: BaseException, url: str) -> DatabaseFault | None:
    """``error`` as a :class:`DatabaseFault` with a plain message about a write to ``url``, or
    None when it is not a failure of the database itself."""
    kind = failure_kind(error)
    if kind is None:
        return None
    if isinstance(error, DatabaseFault):
        return error
    shown = safe_url(url)
    if kind == READ_ONLY:
        return DatabaseReadOnly(
            f"the database at {shown} refuses writes ({error_summary(error)}), so nothing was changed; "
            "reading still works. Ask its administrator to make it writable, then try again")
    return DatabaseUnavailable(
        f"the database at {shown} is not answering ({error_summary(error)}), so nothing was changed. "
        "Check that the database server is running, then try again")


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
    connect_args: dict = {}
    parsed = make_url(url)
    if parsed.get_driver_name() in ("psycopg", "psycopg2") and "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
    if read_only:
        connect_args["options"] = (
            "-c default_transaction_read_only=on "
            f"-c statement_timeout={READER_STATEMENT_TIMEOUT_MS}"
        )
    # pool_pre_ping: a pooled connection is tested before use, so connections left dead by a
    # server restart are replaced instead of failing the next page.
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
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:  # housekeeping only: the new data are already published
                logger.warning("could not remove the old generation %s: %s", path, exc)


@contextlib.contextmanager
def write_transaction(url: str, *, fresh: bool = False) -> Iterator[sa.Connection]:
    """One all-or-nothing write: yields a connection inside a transaction.

    On success the change is committed (PostgreSQL) or published as a new DuckDB generation; on
    any exception nothing is changed and the exception propagates. A database that does not
    answer or refuses writes raises :class:`DatabaseUnavailable` or :class:`DatabaseReadOnly`
    (the driver's error as the cause). ``fresh`` starts an empty DuckDB database instead of
    copying the current one (used to build the default database).
    """
    if not is_duckdb(url):
        engine = make_engine(url)
        try:
            with _faults_explained(url, sa.exc.DBAPIError, sa.exc.TimeoutError):
                with engine.begin() as conn:
                    yield conn
        finally:
            engine.dispose()
        return

    link = duckdb_path(url)
    with contextlib.ExitStack() as stack:
        # The generation scheme's own file operations: an OSError there that is the folder
        # refusing writes (read-only, no permission) is explained as such.
        with _faults_explained(url, OSError):
            stack.enter_context(file_lock(link.with_name(link.name + ".lock")))
        current = Path(os.path.realpath(link)) if link.exists() else None
        generation = _new_generation_path(link)
        engine = None
        try:
            with _faults_explained(url, OSError):
                if current is not None and not fresh:
                    shutil.copyfile(current, generation)
            engine = sa.create_engine(
                f"duckdb:///{generation}", connect_args={"config": dict(DUCKDB_CONFIG)},
                poolclass=sa.pool.NullPool,
            )
            # The caller's own errors pass as they are; only the database's are explained.
            with _faults_explained(url, sa.exc.DBAPIError):
                with engine.begin() as conn:
                    yield conn
            with _faults_explained(url, OSError, sa.exc.DBAPIError):
                with engine.connect() as conn:
                    conn.exec_driver_sql("CHECKPOINT")
                engine.dispose()
                _publish_first(link, current, generation)
        except BaseException:
            if engine is not None:
                engine.dispose()
            for path in (generation, generation.with_name(generation.name + ".wal")):
                with contextlib.suppress(OSError):
                    path.unlink()
            raise
        _prune_generations(link, generation)


def _publish_first(link: Path, current: Path | None, generation: Path) -> None:
    """Publish ``generation``; a plain DuckDB file (first write) is first kept aside, and put
    back if publishing fails."""
    adopted = None
    if current is not None and not link.is_symlink():
        # First write to a plain DuckDB file: keep it aside, then switch to the link scheme.
        adopted = link.with_name(f"{link.stem}.g00000000-original{link.suffix}")
        os.replace(current, adopted)
    try:
        _publish(link, generation)
    except BaseException:
        if adopted is not None:
            os.replace(adopted, link)
        raise


@contextlib.contextmanager
def _faults_explained(url: str, *types: type[BaseException]) -> Iterator[None]:
    """Re-raise an error of ``types`` that is a failure of the database itself as a
    :class:`DatabaseFault` (cause kept); anything else passes unchanged."""
    try:
        yield
    except types as exc:
        fault = as_fault(exc, url)
        if fault is None or fault is exc:
            raise
        raise fault from exc
