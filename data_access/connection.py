"""The one module in ``data_access`` that knows Streamlit: the cached engine and cached results.

- The engine is a ``st.cache_resource`` keyed by URL and *generation*: when an import publishes a
  new DuckDB generation (see :mod:`data_access.engine`) the next rerun gets a fresh read-only
  engine on the new file, and every cached result is keyed by the generation too, so nobody sees
  stale figures after an import and nobody waits for the writer.
- Query results go through :func:`cached`, a bounded ``st.cache_data`` keyed by the query
  function's name, its parameters, the generation and the caller's access *scope* (so views
  that differ by role never share an entry). Cache small aggregated frames only: each hit
  unpickles a copy.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
import streamlit as st

from data_access import engine as eng

CACHE_TTL_SECONDS = 15 * 60
CACHE_MAX_ENTRIES = 512


@st.cache_resource(max_entries=4, show_spinner=False)
def _reader(url: str, generation: str) -> sa.Engine:
    del generation  # part of the cache key only
    return eng.reader_engine(url)


def current_url() -> str:
    """The database URL this app process reads."""
    return eng.database_url()


def generation() -> str:
    """Token of the data currently published (changes after every import)."""
    return eng.database_generation(current_url())


def get_engine() -> sa.Engine:
    """The read-only engine for the current data generation."""
    url = current_url()
    return _reader(url, eng.database_generation(url))


@st.cache_data(ttl=CACHE_TTL_SECONDS, max_entries=CACHE_MAX_ENTRIES, show_spinner=False)
def _run_cached(
    module: str, name: str, url: str, generation: str, scope: str, params: tuple
) -> Any:
    del scope  # part of the cache key: results for one access scope are never served to another
    fn = getattr(importlib.import_module(module), name)
    return fn(_reader(url, generation), **dict(params))


def cached(query: Callable[..., Any], /, *, scope: str = "public", **params: Any) -> Any:
    """Run ``query(engine, **params)`` through the bounded result cache.

    ``query`` must be a module-level function of ``data_access`` taking the engine first and
    returning a small frame or value. Parameters must be hashable-friendly (str, int, date,
    tuple, None); lists are turned into tuples.
    """
    frozen = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in params.items()))
    url = current_url()
    return _run_cached(
        query.__module__, query.__name__, url, eng.database_generation(url), scope, frozen
    )


def clear_caches() -> None:
    """Forget cached results and engines (tests, and after an in-app import)."""
    _run_cached.clear()
    _reader.clear()

