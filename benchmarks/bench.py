"""Speed benchmark (not a test): page script runs at 1M, 5M and 20M incidents on DuckDB.

    python -m benchmarks.bench                       # 1M and 5M, every page
    python -m benchmarks.bench --sizes 1,5,20 --repeat 20
    python -m benchmarks.bench --sizes 5 --pages overview,fund

For each size it builds (once, cached under ``var/bench/``) a sample database, then runs each page
through ``streamlit.testing.v1.AppTest`` in this process, as the server would, and prints medians
and p95s beside the targets of the foundation issue:

- cold: the first full run of a page after a cold start (new caches and engine);
- warm: reruns of the same view (caches hot);
- filter change: a rerun with a financial year / LCSP combination not seen before;
- 4 users: four sessions changing filters at once (threads sharing the caches, as on a server);
- naive: the Overview's figures computed the naive way (raw incident rows into pandas) as the
  ratio to beat; and the process's peak RSS.

Machines here are shared and noisy: read medians and ratios, not single runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

import pandas as pd  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from data_access import bootstrap, engine as eng, schema  # noqa: E402

BENCH_DIR = PROJECT_ROOT / "var" / "bench"
# AppTest replaces sys.modules["__main__"] with the app script; worker processes must be started
# from this module instead (see measure_concurrent).
_THIS_MAIN = sys.modules.get("__main__")
# Incidents per unit of generator scale over the default period (measured: see --build-only).
INCIDENTS_PER_SCALE = 1_270_000
TARGETS_MS = {"warm_p95": 250, "filter_p95": 400, "filter_p95_20m": 800, "cold": 3000,
              "concurrent_p95": 1000}


def database_for(millions: float) -> str:
    """URL of the benchmark database with about ``millions`` million incidents (built if missing)."""
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    url = f"duckdb:///{BENCH_DIR / f'csp_{millions:g}M.duckdb'}"
    if not bootstrap.has_data(url):
        scale = millions * 1_000_000 / INCIDENTS_PER_SCALE
        print(f"building {millions:g}M incidents (scale {scale:.2f}) ...", file=sys.stderr)
        started = time.perf_counter()
        # A separate process, so building does not count in this process's peak memory.
        subprocess.run(
            [sys.executable, "-m", "sample_data.load", "--database-url", url, "--scale", f"{scale:.4f}"],
            cwd=PROJECT_ROOT, check=True,
        )
        print(f"built in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return url


def page_files(selected: list[str] | None) -> list[str]:
    """Page scripts to measure (``pages/<name>.py``)."""
    names = sorted(p.stem for p in (PROJECT_ROOT / "pages").glob("*.py"))
    if selected:
        unknown = set(selected) - set(names)
        if unknown:
            raise SystemExit(f"unknown pages: {', '.join(sorted(unknown))}; known: {', '.join(names)}")
        names = [n for n in names if n in selected]
    return [f"pages/{n}.py" for n in names]


def _new_app(page: str, params: dict[str, str] | None = None):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(PROJECT_ROOT / "app.py"), default_timeout=120)
    for key, value in (params or {}).items():
        at.query_params[key] = value
    at.run()
    if page != "pages/overview.py":
        at.switch_page(page)
        at.run()
    return at


def _timed_run(at) -> float:
    started = time.perf_counter()
    at.run()
    elapsed = (time.perf_counter() - started) * 1000
    if at.exception:
        raise RuntimeError(f"page raised: {at.exception[0].value}")
    return elapsed


def _clear_caches() -> None:
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def view_combinations(url: str) -> list[dict[str, str]]:
    """Distinct (financial year, LCSP) views, for filter changes that miss the cache."""
    engine = eng.reader_engine(url)
    with engine.connect() as conn:
        years = [r[0] for r in conn.execute(
            sa.select(schema.agg_month_ward.c.fy_start).distinct().order_by(schema.agg_month_ward.c.fy_start)
        )]
        lcsps = [r[0] for r in conn.execute(
            sa.select(schema.areas.c.code).where(schema.areas.c.level == "lcsp").order_by(schema.areas.c.code)
        )]
    engine.dispose()
    from kpis.periods import fy_label

    return [{"fy": fy_label(y), **({"lcsp": code} if code else {})}
            for code in [None, *lcsps] for y in reversed(years)]


def measure_page(page: str, views: list[dict[str, str]], repeat: int) -> dict[str, float]:
    """Cold, warm and filter-change timings of one page (milliseconds)."""
    _clear_caches()
    started = time.perf_counter()
    at = _new_app(page)
    cold = (time.perf_counter() - started) * 1000
    warm = [_timed_run(at) for _ in range(repeat)]
    changes = []
    for view in views[1: repeat + 1]:
        at.query_params.clear()
        for key, value in view.items():
            at.query_params[key] = value
        # The shell reads the URL at the start of a run, as it does when a user follows a link
        # or changes a sidebar filter (which rewrites the URL).
        changes.append(_timed_run(at))
    return {"cold": cold, "warm_p50": statistics.median(warm), "warm_p95": _p95(warm),
            "filter_p50": statistics.median(changes) if changes else float("nan"),
            "filter_p95": _p95(changes) if changes else float("nan")}


def _concurrent_session(page: str, views: list[dict[str, str]], index: int, rounds: int,
                        database_url: str, barrier, results) -> None:
    """One simulated user (its own process): open the page, then change filters ``rounds`` times."""
    os.environ["DATABASE_URL"] = database_url
    try:
        at = _new_app(page)
        latencies = []
        for r in range(rounds):
            view = views[(index * rounds + r + 1) % len(views)]
            at.query_params.clear()
            for key, value in view.items():
                at.query_params[key] = value
            barrier.wait(timeout=300)  # every user changes a filter at the same moment
            latencies.append(_timed_run(at))
        results.put(("ok", latencies))
    except Exception as exc:  # report instead of leaving the others at the barrier
        barrier.abort()
        results.put(("error", f"{type(exc).__name__}: {exc}"))


def measure_concurrent(page: str, views: list[dict[str, str]], users: int = 4, rounds: int = 5) -> dict:
    """``users`` sessions changing filters at once on one page; per-run latencies (ms).

    Each user is a process: AppTest re-parses the page scripts on every run and CPython 3.11's
    parser is not safe across threads (a server parses each script once and caches it). The
    processes compete for the same two cores, which is what matters here; each has its own
    result cache, which changes little because every filter change asks for a new view.
    """
    import multiprocessing as mp
    import queue

    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(users), ctx.Queue()
    workers = [ctx.Process(target=_concurrent_session,
                           args=(page, views, i, rounds, os.environ["DATABASE_URL"], barrier, results))
               for i in range(users)]
    app_main = sys.modules["__main__"]
    sys.modules["__main__"] = _THIS_MAIN  # the workers start from this module, not app.py
    try:
        for w in workers:
            w.start()
    finally:
        sys.modules["__main__"] = app_main
    outcomes = []
    for _ in workers:
        try:
            outcomes.append(results.get(timeout=600))
        except queue.Empty:
            outcomes.append(("error", "a simulated user did not finish in 10 minutes"))
            break
    for w in workers:
        w.join(timeout=60)
    errors = [detail for status, detail in outcomes if status == "error"]
    if errors:
        raise RuntimeError(f"a simulated user failed: {errors[0]}")
    latencies = [ms for _, values in outcomes for ms in values]
    return {"p50": statistics.median(latencies), "p95": _p95(latencies)}


def naive_overview(url: str, fy_start: int) -> float:
    """The Overview's headline and LCSP figures computed from raw rows in pandas (ms)."""
    engine = eng.reader_engine(url)
    i = schema.incidents
    started = time.perf_counter()
    with engine.connect() as conn:
        raw = pd.read_sql(
            sa.select(i.c.fy_start, i.c.month_start, i.c.source, i.c.category, i.c.lcsp_code,
                      i.c.ward_code, i.c.is_domestic_abuse, i.c.is_vawg, i.c.is_weapon)
            .where(i.c.fy_start.in_([fy_start, fy_start - 1])),
            conn,
        )
    raw.groupby(["fy_start", "source", "category"]).size()
    raw.groupby(["fy_start", "lcsp_code", "source"]).size()
    raw.groupby(["fy_start", "month_start", "source"]).size()
    raw.groupby(["fy_start"])[["is_domestic_abuse", "is_vawg", "is_weapon"]].sum()
    elapsed = (time.perf_counter() - started) * 1000
    engine.dispose()
    return elapsed


def _fmt(value: float, target: float | None = None) -> str:
    text = f"{value:8.0f}"
    if target is not None:
        text += " ok  " if value <= target else " SLOW"
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,5", help="millions of incidents, comma-separated (e.g. 1,5,20)")
    parser.add_argument("--pages", default="", help="page names to measure (default: all)")
    parser.add_argument("--repeat", type=int, default=15, help="warm runs and filter changes per page")
    parser.add_argument("--build-only", action="store_true", help="build the databases and stop")
    parser.add_argument("--no-concurrency", action="store_true")
    args = parser.parse_args(argv)

    sizes = [float(s) for s in args.sizes.split(",") if s.strip()]
    pages = page_files([p for p in args.pages.split(",") if p.strip()] or None)
    print(f"benchmark {dt.datetime.now():%Y-%m-%d %H:%M}, {os.cpu_count()} cores; times in ms")
    for millions in sizes:
        url = database_for(millions)
        os.environ["DATABASE_URL"] = url
        engine = eng.reader_engine(url)
        with engine.connect() as conn:
            count = conn.execute(sa.select(sa.func.count()).select_from(schema.incidents)).scalar_one()
            latest_fy = conn.execute(sa.select(sa.func.max(schema.agg_month_ward.c.fy_start))).scalar_one()
        engine.dispose()
        print(f"\n== {count:,} incidents ({eng.safe_url(url)})")
        if args.build_only:
            continue
        views = view_combinations(url)
        filter_target = TARGETS_MS["filter_p95_20m"] if millions >= 20 else TARGETS_MS["filter_p95"]
        print(f"{'page':24} {'cold':>13} {'warm p50':>8} {'warm p95':>13} {'filter p50':>10} {'filter p95':>13}")
        results = {}
        for page in pages:
            r = measure_page(page, views, args.repeat)
            results[page] = r
            print(f"{Path(page).stem:24} {_fmt(r['cold'], TARGETS_MS['cold'])} {_fmt(r['warm_p50'])} "
                  f"{_fmt(r['warm_p95'], TARGETS_MS['warm_p95'])} {_fmt(r['filter_p50']):>10} "
                  f"{_fmt(r['filter_p95'], filter_target)}")
        print(f"targets: cold < {TARGETS_MS['cold']}, warm p95 < {TARGETS_MS['warm_p95']}, "
              f"filter change p95 < {filter_target}")
        if not args.no_concurrency and "pages/overview.py" in pages:
            c = measure_concurrent("pages/overview.py", views)
            print(f"4 users changing filters at once (overview): p50 {c['p50']:.0f}, p95 {c['p95']:.0f} "
                  f"(target p95 < {TARGETS_MS['concurrent_p95']})")
        # Peak memory of the dashboard's work, before the naive comparison inflates it.
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS of this process (the pages' work): {peak_mb:.0f} MB "
              f"(target < 1024 MB at 20M)")
        naive = [naive_overview(url, latest_fy) for _ in range(3)]
        if "pages/overview.py" in results:
            ours = results["pages/overview.py"]["filter_p50"]
            print(f"naive overview (raw rows into pandas): median {statistics.median(naive):.0f} ms; "
                  f"ratio naive / dashboard filter change = {statistics.median(naive) / ours:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
