"""Fill a database with the sample partnership: ``python -m sample_data.load [options]``.

Writes to DATABASE_URL (the embedded DuckDB default when unset), or to ``--database-url``. The
schema is created with Alembic first. ``--scale`` multiplies incident volumes for benchmarks
(about 1.3M incidents at 1.0 over the default period; 4 ~ 5M, 15 ~ 20M).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time

from data_access import bootstrap
from data_access.engine import database_url, safe_url
from data_access.progress import TextProgress
from sample_data.generator import build_dataset


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sample_data.load", description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None, help="target database (default: DATABASE_URL)")
    parser.add_argument("--scale", type=float, default=1.0, help="incident volume multiplier")
    parser.add_argument("--seed", type=int, default=20251)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=None, help="first day (YYYY-MM-DD)")
    parser.add_argument("--end", type=dt.date.fromisoformat, default=None, help="last day (YYYY-MM-DD)")
    parser.add_argument("--replace", action="store_true", help="rebuild even if the database has data")
    args = parser.parse_args(argv)

    url = args.database_url or database_url()
    progress = TextProgress()
    options = {"seed": args.seed, "scale": args.scale, "progress": None}
    if args.start:
        options["start"] = args.start
    if args.end:
        options["end"] = args.end
    started = time.perf_counter()
    try:
        built = bootstrap.build_database(
            url, lambda: build_dataset(**options), progress=progress,
            only_if_missing=not args.replace,
        )
    except Exception as exc:  # a clear one-line message, not a traceback, for the operator
        print(f"error: could not fill {safe_url(url)}: {exc}", file=sys.stderr)
        return 1
    if not built:
        print(f"{safe_url(url)} already has data; use --replace to rebuild it", file=sys.stderr)
        return 0
    print(f"sample data loaded into {safe_url(url)} in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
