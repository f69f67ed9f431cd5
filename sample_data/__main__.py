"""Generate the sample in memory and print what it holds: ``python -m sample_data --stats``.

No database is touched (use ``python -m sample_data.load`` to fill one). Prints row counts of
every table, incident counts by year, category shares, ASB type shares, per-LCSP counts and the
time taken; a progress bar goes to stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections import Counter


from sample_data.generator import DEFAULT_SEED, build_dataset
from sample_data.incidents import DEFAULT_END, DEFAULT_START


class _Bar:
    """A one-line text progress bar on stderr."""

    def __init__(self, width: int = 30) -> None:
        self.width = width
        self.live = sys.stderr.isatty()
        self.last_tenth = -1

    def __call__(self, done: int, total: int, message: str) -> None:
        filled = int(self.width * done / max(total, 1))
        line = f"[{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} {message:<24}"
        if self.live:
            sys.stderr.write("\r" + line + ("\n" if done >= total else ""))
        else:  # a log file: one line per tenth rather than hundreds of carriage returns
            tenth = 10 * done // max(total, 1)
            if tenth == self.last_tenth:
                return
            self.last_tenth = tenth
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def _shares(counter: Counter, total: int) -> str:
    return "\n".join(f"  {k:<28} {v:>10,} {100 * v / max(total, 1):6.1f}%"
                     for k, v in counter.most_common())


def run_stats(seed: int, scale: float, start: dt.date, end: dt.date) -> str:
    """Generate everything and return the printed report."""
    started = time.perf_counter()
    cpu_started = time.process_time()
    dataset = build_dataset(seed=seed, scale=scale, start=start, end=end, progress=_Bar())
    tables_done = time.perf_counter()
    by_year, categories, asb_types, lcsps = Counter(), Counter(), Counter(), Counter()
    rows = crime = asb = 0
    flags = Counter()
    for frame in dataset.incident_frames():
        rows += len(frame)
        is_asb = (frame["source"] == "asb").to_numpy()
        asb += int(is_asb.sum())
        crime += int((~is_asb).sum())
        by_year.update(frame["incident_date"].dt.year.value_counts().to_dict())
        categories.update(frame.loc[~is_asb, "category"].value_counts().to_dict())
        asb_types.update(frame.loc[is_asb, "subcategory"].value_counts().to_dict())
        lcsps.update(frame["lcsp_code"].value_counts().to_dict())
        for flag in ("is_domestic_abuse", "is_vawg", "is_alcohol", "is_weapon", "is_hate", "is_repeat"):
            flags[flag] += int(frame.loc[~is_asb, flag].sum())
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started

    lines = [f"Sample dataset seed={seed} scale={scale:g} {start}..{end}", "", "Tables:"]
    for name, frame in dataset.tables.items():
        lines.append(f"  {name:<20} {len(frame):>10,}")
    lines += [f"  {'incidents':<20} {rows:>10,}  ({crime:,} recorded crime, {asb:,} ASB)", "",
              "Incidents by calendar year:"]
    lines += [f"  {y} {n:>10,}" for y, n in sorted(by_year.items())]
    lines += ["", "Recorded crime by category:",
              _shares(Counter({k: v for k, v in categories.items() if v}), crime)]
    lines += ["", "ASB by type:", _shares(Counter({k: v for k, v in asb_types.items() if v}), asb)]
    lines += ["", "Flags (share of recorded crime):"]
    lines += [f"  {k:<28} {v:>10,} {100 * v / max(crime, 1):6.1f}%" for k, v in flags.items()]
    lines += ["", "Incidents by LCSP (LCSP in force at the date):", _shares(lcsps, rows)]
    lines += ["", f"Small tables: {tables_done - started:.1f} s; total elapsed {elapsed:.1f} s, "
                  f"CPU {cpu:.1f} s ({rows / max(elapsed, 1e-9):,.0f} incidents/s)"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m sample_data", description=__doc__.splitlines()[0])
    parser.add_argument("--stats", action="store_true", help="generate in memory and print statistics")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--scale", type=float, default=1.0, help="incident volume multiplier")
    parser.add_argument("--start", type=dt.date.fromisoformat, default=DEFAULT_START)
    parser.add_argument("--end", type=dt.date.fromisoformat, default=DEFAULT_END)
    args = parser.parse_args(argv)
    if not args.stats:
        parser.print_help()
        print("\nTo fill a database use: python -m sample_data.load")
        return 2
    if args.scale <= 0 or args.end < args.start:
        parser.error("scale must be positive and end must not be before start")
    print(run_stats(args.seed, args.scale, args.start, args.end))
    return 0


if __name__ == "__main__":
    sys.exit(main())
