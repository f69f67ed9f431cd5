"""The one module in ``data_access`` that knows Streamlit: the cached engine and cached results.

- The engine is a ``st.cache_resource`` keyed by URL and, for DuckDB, *generation*: when an
  import publishes a new DuckDB generation (see :mod:`data_access.engine`) the next rerun gets a
  fresh read-only engine on the new file. Every cached result is keyed by :func:`generation`
  too, so nobody sees stale figures after an import and nobody waits for the writer.
- Query results go through :func:`cached`, a bounded ``st.cache_data`` keyed by the query
  function's name, its parameters, the generation and the caller's access *scope* (so views
  that differ by role never share an entry). Cache small aggregated frames only: each hit
  unpickles a copy.

When the database stops answering, nothing here needs it to serve a view already cached: the
generation of a DuckDB database is one ``readlink``, and that of a server database (PostgreSQL,
whose readers see imports through ordinary transactions) is a data version read from the
``imports`` log at most every :data:`SERVER_VERSION_EVERY_S` seconds per process, the last one
known being kept while the server does not answer. A view not cached raises the driver's error,
which the pages' guard turns into a plain message; the same session works again once the
database answers (engines test pooled connections before use).
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
import streamlit as st

from data_access import engine as eng
from data_access import schema

CACHE_TTL_SECONDS = 15 * 60
CACHE_MAX_ENTRIES = 512
# How often a process asks a server database whether an import has changed the data: a command-
# line import (another process) shows in the running app within this many seconds.
SERVER_VERSION_EVERY_S = 10.0
_SERVER_ENGINE_KEY = "server"  # one engine per server database, whatever its data version

logger = logging.getLogger(__name__)
_versions: dict[str, tuple[str, float]] = {}  # url -> (data version, monotonic time checked)
_versions_lock = threading.Lock()


@st.cache_resource(max_entries=4, show_spinner=False)
def _reader(url: str, generation: str) -> sa.Engine:
    del generation  # part of the cache key only
    return eng.reader_engine(url)


def current_url() -> str:
    """The database URL this app process reads."""
    return eng.database_url()


def _engine_key(url: str, generation: str) -> str:
    return generation if eng.is_duckdb(url) else _SERVER_ENGINE_KEY


def _read_server_version(url: str) -> str:
    imports = schema.imports
    with _reader(url, _SERVER_ENGINE_KEY).connect() as conn:
        last, count = conn.execute(
            sa.select(sa.func.max(imports.c.import_id), sa.func.count()).select_from(imports)
        ).one()
    return f"server:{last}:{count}"


def _server_version(url: str) -> str:
    """The data version of a server database: checked at most every SERVER_VERSION_EVERY_S
    seconds (one session checks while the others use the last value); the last known value
    while the server does not answer."""
    now = time.monotonic()
    known = _versions.get(url)
    if known is not None and now - known[1] < SERVER_VERSION_EVERY_S:
        return known[0]
    if not _versions_lock.acquire(blocking=known is None):
        return known[0]  # another session is checking
    try:
        known = _versions.get(url)
        if known is not None and time.monotonic() - known[1] < SERVER_VERSION_EVERY_S:
            return known[0]
        try:
            version = _read_server_version(url)
        except Exception as exc:  # not answering, or no imports table yet
            version = known[0] if known is not None else "server:unknown"
            logger.info("data version of %s not read (%s); using %s", eng.safe_url(url),
                        type(exc).__name__, version)
        _versions[url] = (version, time.monotonic())
        return version
    finally:
        _versions_lock.release()


def _generation(url: str) -> str:
    if eng.is_duckdb(url):
        return eng.database_generation(url)
    return _server_version(url)


def generation() -> str:
    """Token of the data currently published (changes after every import)."""
    return _generation(current_url())


def get_engine() -> sa.Engine:
    """The read-only engine for the current data generation."""
    url = current_url()
    return _reader(url, _engine_key(url, _generation(url)))


@st.cache_data(ttl=CACHE_TTL_SECONDS, max_entries=CACHE_MAX_ENTRIES, show_spinner=False)
def _run_cached(
    module: str, name: str, url: str, generation: str, scope: str, params: tuple
) -> Any:
    del scope  # part of the cache key: results for one access scope are never served to another
    fn = getattr(importlib.import_module(module), name)
    return fn(_reader(url, _engine_key(url, generation)), **dict(params))


def cached(query: Callable[..., Any], /, *, scope: str = "public", **params: Any) -> Any:
    """Run ``query(engine, **params)`` through the bounded result cache.

    ``query`` must be a module-level function of ``data_access`` taking the engine first and
    returning a small frame or value. Parameters must be hashable-friendly (str, int, date,
    tuple, None); lists are turned into tuples.
    """
    frozen = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in params.items()))
    url = current_url()
    return _run_cached(query.__module__, query.__name__, url, _generation(url), scope, frozen)


def clear_caches() -> None:
    """Forget cached results, engines and data versions (tests, and after an in-app import)."""
    _run_cached.clear()
    _reader.clear()
    with _versions_lock:
        _versions.clear()
