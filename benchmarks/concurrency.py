"""Concurrency check (not a speed benchmark): simulated sessions browse while imports run.

    python -m benchmarks.concurrency                    # 10 sessions x 3 loops x 3 pages, DuckDB
    python -m benchmarks.concurrency --sessions 10 --loops 2 --pages overview,data_status
    python -m benchmarks.concurrency --database-url postgresql+psycopg://postgres@127.0.0.1/scratch

Everything is bounded and on localhost. Without ``--database-url`` a small sample DuckDB
database is built in a temporary folder and deleted afterwards; a given database gets the sample
first if it is empty, and the imports below, so give it a scratch database.

- Each session is its own process running ``app.py`` through ``streamlit.testing.v1.AppTest``
  (CPython 3.11's parser is not safe across threads, see benchmarks/bench.py), with its own
  result cache as a server process has. It opens the app, waits until every session is ready,
  then visits each page ``--loops`` times, in order.
- Sessions are signed in (an ``[auth]`` section and a logged-in ``st.user``, as AppTest allows)
  as a user given the admin role with ``python -m data_access.access grant``: once real data are
  imported the dashboard shows nothing without sign-in, so the local demo mode would not do.
- When all are ready, ``python -m data_access.load police-uk <file>`` imports a generated
  police.uk file into the same database, in its own process, back to back until the sessions
  finish (at most ``--imports`` times; the same month each time, so each import replaces the
  last and publishes new data the sessions must read again).
- When every session has browsed and the last import has finished (and, on a server database,
  the few seconds after which a running app notices an import have passed), each session visits
  every page once more; its data status page (when among ``--pages``) must list the imports: the
  new data are read by the running sessions, without a restart.

A run counts as an error when it raises, shows an exception or any ``st.error`` message, or does
not finish. The report gives runs, errors, runs made while an import was writing, and median and
p95 times per page; the exit status is 1 when any session saw an error, a session did not
finish or an import failed.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

import sqlalchemy as sa  # noqa: E402

from data_access import bootstrap, schema  # noqa: E402
from data_access import engine as eng  # noqa: E402

DEFAULT_PAGES = "overview,data_status,hotspots"
SAMPLE_OPTIONS = ["--scale", "0.2", "--start", "2024-04-01", "--end", "2026-10-31"]
FORCE = "West Midlands Police"
LOADED_BY = "concurrency benchmark"  # who the imports are logged as (the data status page shows it)
USER_EMAIL = "concurrency.benchmark@example.gov.uk"
# Enough of an [auth] section for the app to require sign-in; AppTest supplies the signed-in user.
AUTH_SECRETS = {"redirect_uri": "http://localhost:8501/oauth2callback",
                "cookie_secret": "concurrency-benchmark", "client_id": "benchmark",
                "client_secret": "benchmark",
                "server_metadata_url": "https://login.example.invalid/.well-known/openid-configuration"}
STREET_HEADER = ("Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,"
                 "LSOA name,Crime type,Last outcome category,Context")
CRIME_TYPES = ("Burglary", "Vehicle crime", "Shoplifting", "Criminal damage and arson")


# --- one simulated session (a worker process) --------------------------------------------------

def _shows_import(at) -> bool:
    """True when a table on the page names the benchmark's imports (the data status page)."""
    for table in at.dataframe:
        frame = table.value
        if hasattr(frame, "astype") and frame.astype(str).isin([LOADED_BY]).any().any():
            return True
    return False


def _problems(at) -> list[str]:
    found = [f"exception: {e.value}" for e in at.exception]
    found += [f"error message: {e.value}" for e in at.error]
    return [text[:300] for text in found]


def session(url: str, pages: list[str], loops: int, timeout: float) -> int:
    """Run one session; speaks to the parent on stdin/stdout (READY, GO, BROWSED, AGAIN,
    RESULT)."""
    os.environ["DATABASE_URL"] = url
    from streamlit.testing.v1 import AppTest

    from data_access import connection

    runs: list[dict] = []

    def timed(at, page: str) -> None:
        started, wall = time.perf_counter(), time.time()
        shows_import = False
        try:
            at.run()
            problems = _problems(at)
            shows_import = _shows_import(at)
        except Exception as exc:  # a timeout or a failure of AppTest itself
            problems = [f"{type(exc).__name__}: {exc}"[:300]]
        runs.append({"page": page, "ms": (time.perf_counter() - started) * 1000,
                     "start": wall, "end": time.time(), "errors": problems,
                     "generation": connection.generation(), "shows_import": shows_import})

    at = AppTest.from_file(str(PROJECT_ROOT / "app.py"), default_timeout=timeout)
    at.secrets["auth"] = AUTH_SECRETS
    at.user = {"is_logged_in": True, "email": USER_EMAIL, "name": "Concurrency benchmark"}
    timed(at, "open")
    print("READY", flush=True)
    if sys.stdin.readline().strip() != "GO":
        return 1
    for _ in range(loops):
        for page in pages:
            at.switch_page(f"pages/{page}.py")
            timed(at, page)
    print("BROWSED", flush=True)
    if sys.stdin.readline().strip() != "AGAIN":
        return 1
    if not eng.is_duckdb(url):  # a running app reads a server database's data version this often
        time.sleep(connection.SERVER_VERSION_EVERY_S + 0.5)
    for page in pages:  # once more after the imports: the new data, read without a restart
        at.switch_page(f"pages/{page}.py")
        timed(at, f"{page} after")
    print("RESULT " + json.dumps(runs), flush=True)
    return 0


# --- the database and the import file -------------------------------------------------------

def prepare_database(url: str) -> None:
    """Fill ``url`` with the small sample when it has no data (in a separate process)."""
    if bootstrap.has_data(url):
        return
    done = subprocess.run([sys.executable, "-m", "sample_data.load", "--database-url", url,
                           *SAMPLE_OPTIONS], cwd=PROJECT_ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"could not build the sample database:\n{done.stderr[-2000:]}")


def grant_access(url: str) -> None:
    """Give the benchmark's user the admin role (every page) in the database's access store."""
    done = subprocess.run([sys.executable, "-m", "data_access.access", "--database-url", url,
                           "grant", USER_EMAIL, "admin", "--name", "Concurrency benchmark"],
                          cwd=PROJECT_ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"could not give the benchmark user a role:\n{done.stderr[-2000:]}")


def write_import_file(url: str, folder: Path, rows: int) -> tuple[Path, str]:
    """A police.uk street file of ``rows`` crimes in the database's LSOAs, in its last month."""
    engine = eng.make_engine(url, read_only=True, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            lsoas = [r[0] for r in conn.execute(
                sa.select(schema.areas.c.code).where(schema.areas.c.level == "lsoa")
                .order_by(schema.areas.c.code).limit(200))]
            last = conn.execute(sa.select(sa.func.max(schema.agg_month_ward.c.month_start))
                                ).scalar_one()
    finally:
        engine.dispose()
    if not lsoas or last is None:
        raise SystemExit("the database has no LSOAs or no incidents to import beside")
    month = f"{last:%Y-%m}"
    lines = [STREET_HEADER]
    for n in range(rows):
        lsoa = lsoas[n % len(lsoas)]
        lines.append(f"BENCH-{month}-{n:06d},{month},{FORCE},{FORCE},-1.89,52.48,"
                     f"On or near Broad Street,{lsoa},Birmingham {lsoa},"
                     f"{CRIME_TYPES[n % len(CRIME_TYPES)]},Under investigation,")
    path = folder / f"{month}-west-midlands-street.csv"
    path.write_text("\n".join(lines) + "\n")
    return path, month


def police_uk_rows(url: str) -> int:
    engine = eng.make_engine(url, read_only=True, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            i = schema.incidents
            return conn.execute(sa.select(sa.func.count()).select_from(i)
                                .where(i.c.source == "police_uk")).scalar_one()
    finally:
        engine.dispose()


# --- the parent -------------------------------------------------------------------------------

class Worker:
    """A session process and a thread that reads its stdout into ``lines``."""

    def __init__(self, index: int, args, url: str, log_dir: Path, lines: queue.Queue) -> None:
        self.index = index
        self.log = log_dir / f"session-{index}.log"
        self.result: list[dict] | None = None
        self.ready = self.browsed = False
        with open(self.log, "w") as log:  # the child keeps its own copy of the handle
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.concurrency", "--session",
                 "--database-url", url, "--pages", ",".join(args.pages),
                 "--loops", str(args.loops), "--run-timeout", str(args.run_timeout)],
                cwd=PROJECT_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                text=True,
            )
        threading.Thread(target=self._read, args=(lines,), daemon=True).start()

    def _read(self, lines: queue.Queue) -> None:
        for line in self.proc.stdout:
            lines.put((self.index, line.rstrip("\n")))
        lines.put((self.index, None))  # end of output

    def send(self, text: str) -> None:
        try:
            self.proc.stdin.write(text + "\n")
            self.proc.stdin.flush()
        except OSError:
            pass

    def log_counts(self) -> dict[str, int]:
        """Lines of the session's server log that show trouble no page displayed."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return {}
        return {"audit_write_failures": text.count("AUDIT WRITE FAILED"),
                "logged_errors": sum(1 for line in text.splitlines() if " ERROR " in line),
                "tracebacks": text.count("Traceback (most recent call last)")}

    def log_tail(self, n: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def run_imports(url: str, path: Path, limit: int, stop: threading.Event, out: list[dict]) -> None:
    """Import ``path`` back to back until ``stop`` is set (at least once, at most ``limit``)."""
    for n in range(limit):
        if n and stop.is_set():
            break
        started, wall = time.perf_counter(), time.time()
        done = subprocess.run(
            [sys.executable, "-m", "data_access.load", "police-uk", str(path),
             "--database-url", url, "--quiet", "--by", LOADED_BY],
            cwd=PROJECT_ROOT, capture_output=True, text=True)
        out.append({"seconds": time.perf_counter() - started, "start": wall, "end": time.time(),
                    "status": done.returncode, "output": (done.stdout + done.stderr)[-600:]})


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def run_check(args, url: str, work: Path, log_dir: Path) -> dict:
    """Start the sessions and the imports; gather what happened."""
    prepare_database(url)
    grant_access(url)
    path, month = write_import_file(url, work, args.import_rows)
    lines: queue.Queue = queue.Queue()
    deadline = time.monotonic() + args.timeout
    workers = [Worker(i, args, url, log_dir, lines) for i in range(args.sessions)]
    failures: list[str] = []
    imports: list[dict] = []
    stop = threading.Event()
    importer = threading.Thread(target=run_imports, args=(url, path, args.imports, stop, imports))
    started = time.perf_counter()
    try:
        finished = 0
        while finished < len(workers) and time.monotonic() < deadline:
            try:
                index, line = lines.get(timeout=1)
            except queue.Empty:
                continue
            worker = workers[index]
            if line is None:
                finished += 1
                if worker.result is None:
                    failures.append(f"session {index} ended without a result "
                                    f"(exit {worker.proc.wait()}):\n{worker.log_tail()}")
                    break  # the others may be waiting for a start that will not come
            elif line == "READY":
                worker.ready = True
                if all(w.ready for w in workers):
                    importer.start()  # the import first: the sessions browse while it writes
                    for w in workers:
                        w.send("GO")
            elif line == "BROWSED":
                worker.browsed = True
                if all(w.browsed for w in workers):
                    stop.set()  # no new import; the one writing finishes, then a last visit
                    importer.join(timeout=max(1.0, deadline - time.monotonic()))
                    for w in workers:
                        w.send("AGAIN")
            elif line.startswith("RESULT "):
                worker.result = json.loads(line[len("RESULT "):])
        if finished < len(workers) and not failures:
            failures.append(f"{len(workers) - finished} sessions did not finish in "
                            f"{args.timeout:.0f} s")
    finally:
        stop.set()
        for w in workers:
            if w.proc.poll() is None:
                w.proc.kill()
            w.proc.wait()
        if importer.ident is not None:  # let a running import finish: it is all or nothing
            importer.join(timeout=max(1.0, deadline - time.monotonic() + 60))
    if importer.ident is None:
        failures.append("the import never started (not every session got ready)")
    elapsed = time.perf_counter() - started
    runs = [dict(r, session=w.index) for w in workers for r in (w.result or [])]
    logs: dict[str, int] = {}
    for w in workers:
        for key, n in w.log_counts().items():
            logs[key] = logs.get(key, 0) + n
    return {"url": eng.safe_url(url), "sessions": args.sessions, "loops": args.loops,
            "pages": args.pages, "import_rows": args.import_rows, "month": month,
            "elapsed_s": elapsed, "runs": runs, "imports": imports, "failures": failures,
            "police_uk_rows": police_uk_rows(url), "server_log": logs}


def summarise(result: dict) -> dict:
    """Counts and timings from :func:`run_check`'s raw result."""
    runs = result["runs"]
    browsing = [r for r in runs if r["page"] != "open"]
    # After the imports, the data status page of every session must list them: each session
    # read the new data without a restart.
    status_after = [r for r in runs if r["page"] == "data_status after"]
    stale_after = [r for r in status_after if not r["shows_import"]]
    errors = [(r["session"], r["page"], e) for r in runs for e in r["errors"]]
    windows = [(i["start"], i["end"]) for i in result["imports"]]
    during = [r for r in browsing
              if any(r["start"] < end and r["end"] > start for start, end in windows)]
    per_page = {}
    for page in ["open", *result["pages"], *(f"{p} after" for p in result["pages"])]:
        ms = [r["ms"] for r in runs if r["page"] == page]
        if ms:
            per_page[page] = {"runs": len(ms), "p50": statistics.median(ms), "p95": _p95(ms)}
    imports_ok = sum(1 for i in result["imports"] if i["status"] == 0)
    expected = result["sessions"] * (result["loops"] + 1) * len(result["pages"])
    return {
        "runs": len(browsing), "expected_runs": expected, "errors": len(errors),
        "error_samples": errors[:5], "runs_during_import": len(during),
        "generations_seen": max((len({r["generation"] for r in runs if r["session"] == s})
                                 for s in {r["session"] for r in runs}), default=0),
        "imports": len(result["imports"]), "imports_ok": imports_ok,
        "import_seconds": [round(i["seconds"], 1) for i in result["imports"]],
        "per_page": per_page, "failures": result["failures"],
        "median_ms": statistics.median([r["ms"] for r in browsing]) if browsing else None,
        # The imported rows must be there at the end (each import replaces the last).
        "import_visible": result["police_uk_rows"] >= result["import_rows"],
        "server_log": result["server_log"],
        "status_after_without_import": len(stale_after),
        "status_after": len(status_after),
        "ok": (not errors and not result["failures"] and len(browsing) == expected
               and imports_ok == len(result["imports"]) and imports_ok > 0
               and result["police_uk_rows"] >= result["import_rows"] and not stale_after
               and not any(result["server_log"].values())),
    }


def report(result: dict, summary: dict) -> str:
    lines = [
        f"concurrency check: {result['sessions']} sessions x {result['loops']} loops x "
        f"{len(result['pages'])} pages ({', '.join(result['pages'])}) on {result['url']}, "
        f"{os.cpu_count()} cores; {result['elapsed_s']:.0f} s",
        f"imports: {summary['imports']} (each {result['import_rows']:,} police.uk rows for "
        f"{result['month']}), {summary['imports_ok']} succeeded, seconds "
        f"{summary['import_seconds']}; police.uk rows now {result['police_uk_rows']:,}",
        f"page runs: {summary['runs']} of {summary['expected_runs']}, errors: {summary['errors']}, "
        f"runs while an import was writing: {summary['runs_during_import']}, data versions "
        f"published during one session: up to {summary['generations_seen']}",
        *([f"data status after the imports lists them in {summary['status_after'] - summary['status_after_without_import']}"
           f" of {summary['status_after']} sessions"] if summary["status_after"] else []),
        "sessions' server logs: " + ", ".join(
            f"{key.replace('_', ' ')} {n}" for key, n in summary["server_log"].items()),
        f"{'page':18} {'runs':>5} {'p50 ms':>8} {'p95 ms':>8}",
    ]
    for page, t in summary["per_page"].items():
        lines.append(f"{page:18} {t['runs']:>5} {t['p50']:>8.0f} {t['p95']:>8.0f}")
    for session_, page, error in summary["error_samples"]:
        lines.append(f"ERROR session {session_} {page}: {error}")
    for failure in summary["failures"]:
        lines.append(f"FAILED {failure}")
    for imp in result["imports"]:
        if imp["status"] != 0:
            lines.append(f"IMPORT FAILED (exit {imp['status']}): {imp['output']}")
    lines.append("OK: no session saw an error" if summary["ok"] else "NOT OK")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.concurrency",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10, help="simulated sessions (processes)")
    parser.add_argument("--loops", type=int, default=3, help="visits of each page per session")
    parser.add_argument("--pages", default=DEFAULT_PAGES, help="page names, comma-separated")
    parser.add_argument("--imports", type=int, default=3, help="most imports while browsing")
    parser.add_argument("--import-rows", type=int, default=5000, help="rows in the import file")
    parser.add_argument("--database-url", default="",
                        help="database to use (default: a temporary sample DuckDB database)")
    parser.add_argument("--timeout", type=float, default=600, help="limit for the whole check (s)")
    parser.add_argument("--run-timeout", type=float, default=120, help="limit for one page run (s)")
    parser.add_argument("--json", default="", help="also write the summary to this JSON file")
    parser.add_argument("--log-dir", default="",
                        help="keep the sessions' server logs here (default: not kept)")
    parser.add_argument("--session", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.pages = [p.strip() for p in args.pages.split(",") if p.strip()]
    known = {p.stem for p in (PROJECT_ROOT / "pages").glob("*.py")}
    unknown = set(args.pages) - known
    if unknown:
        parser.error(f"unknown pages: {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
    if args.session:
        return session(args.database_url, args.pages, args.loops, args.run_timeout)

    with tempfile.TemporaryDirectory(prefix="csp-concurrency-") as tmp:
        work = Path(tmp)
        url = args.database_url or f"duckdb:///{work / 'csp.duckdb'}"
        logs = Path(args.log_dir) if args.log_dir else work
        logs.mkdir(parents=True, exist_ok=True)
        result = run_check(args, url, work, logs)
        summary = summarise(result)
        print(report(result, summary))
        if args.json:
            Path(args.json).write_text(json.dumps(summary, indent=2, default=str))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
