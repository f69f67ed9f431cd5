"""Ten simulated sessions browse while a real import writes into the same database: no session
sees an error, and every one reads the imported data afterwards without a restart.

A bounded run of ``benchmarks/concurrency.py`` (10 session processes x 2 pages x 2 loops, plus a
last visit; ``python -m data_access.load police-uk`` importing a generated file meanwhile) on a
private copy of the session's sample DuckDB database, which stays read-only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from data_access import engine as eng

ROOT = Path(__file__).resolve().parents[2]
SESSIONS, LOOPS, PAGES = 10, 2, ("overview", "data_status")


def test_ten_sessions_browse_while_an_import_runs(sample_db_url, tmp_path):
    folder = tmp_path / "db"
    folder.mkdir()
    shutil.copyfile(os.path.realpath(eng.duckdb_path(sample_db_url)), folder / "csp.duckdb")
    url = f"duckdb:///{folder / 'csp.duckdb'}"
    summary_path = tmp_path / "summary.json"

    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.concurrency", "--database-url", url,
         "--sessions", str(SESSIONS), "--loops", str(LOOPS), "--pages", ",".join(PAGES),
         "--imports", "2", "--import-rows", "2000", "--timeout", "420",
         "--json", str(summary_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=480,
    )
    report = done.stdout + done.stderr[-3000:]
    assert done.returncode == 0, report
    summary = json.loads(summary_path.read_text())
    assert summary["errors"] == 0 and not summary["failures"], report
    assert summary["runs"] == SESSIONS * (LOOPS + 1) * len(PAGES), report
    assert summary["imports_ok"] >= 1 and summary["imports_ok"] == summary["imports"], report
    assert summary["runs_during_import"] > 0, "no page ran while the import was writing"
    assert summary["status_after"] == SESSIONS and summary["status_after_without_import"] == 0
    assert not any(summary["server_log"].values()), report


def test_the_check_fails_on_an_error_a_missing_run_or_unseen_data():
    from benchmarks.concurrency import summarise

    def run(page, errors=(), shows_import=False, session=0):
        return {"page": page, "ms": 10.0, "start": 1.0, "end": 2.0, "errors": list(errors),
                "generation": "g1", "shows_import": shows_import, "session": session}

    good = [run("open"), run("overview"), run("overview after"),
            run("data_status"), run("data_status after", shows_import=True)]
    result = {"sessions": 1, "loops": 1, "pages": ["overview", "data_status"], "failures": [],
              "imports": [{"status": 0, "seconds": 1.0, "start": 1.5, "end": 3.0}],
              "import_rows": 10, "police_uk_rows": 10, "runs": good,
              "server_log": {"tracebacks": 0}}
    assert summarise(result)["ok"]
    assert summarise(result)["runs_during_import"] == 4
    with_error = dict(result, runs=[*good[:-1], run("data_status after", ["error message: x"],
                                                    shows_import=True)])
    assert not summarise(with_error)["ok"] and summarise(with_error)["errors"] == 1
    assert not summarise(dict(result, runs=good[:-1]))["ok"]  # a run missing
    stale = dict(result, runs=[*good[:-1], run("data_status after")])
    assert not summarise(stale)["ok"]  # the data status did not list the import
    assert not summarise(dict(result, server_log={"tracebacks": 1}))["ok"]
    failed_import = dict(result, imports=[{"status": 1, "seconds": 1.0, "start": 1.5, "end": 3.0}])
    assert not summarise(failed_import)["ok"]
