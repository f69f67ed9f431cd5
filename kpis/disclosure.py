"""Statistical disclosure control for sensitive categories.

Counts of sexual offences, modern slavery and domestic abuse for small areas can point at people.
Below partnership level, counts from 1 to :data:`SUPPRESSION_THRESHOLD` are shown as a band
("1-7") instead of the number; zero is safe to show. Anything computed from a suppressed count (a
rate, a change) would give it away, so those go too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

SUPPRESSION_THRESHOLD = 7


def suppressed_label(threshold: int = SUPPRESSION_THRESHOLD) -> str:
    """What a suppressed count shows instead of the number, e.g. "1-7"."""
    return f"1-{threshold}"


def is_suppressed(count: float | None, threshold: int = SUPPRESSION_THRESHOLD) -> bool:
    """True when ``count`` is small enough (1..threshold) to be withheld."""
    return count is not None and not pd.isna(count) and 1 <= count <= threshold


def suppress_small_counts(
    frame: pd.DataFrame,
    columns: Iterable[str],
    threshold: int = SUPPRESSION_THRESHOLD,
    dependent: Mapping[str, Iterable[str]] | None = None,
) -> pd.DataFrame:
    """A copy of ``frame`` with counts 1..threshold in ``columns`` replaced by the band label.

    ``dependent`` maps a count column to columns derived from it (rates, changes): where the count
    is suppressed those are blanked too (None). Suppressed columns become object dtype.
    """
    out = frame.copy()
    dependent = dependent or {}
    label = suppressed_label(threshold)
    masks = {}
    for column in columns:
        values = pd.to_numeric(frame[column], errors="coerce")
        masks[column] = values.between(1, threshold).fillna(False).to_numpy(dtype=bool)
    for column, mask in masks.items():
        for derived in dependent.get(column, ()):
            out[derived] = out[derived].astype(object)
            out.loc[mask, derived] = None
    for column, mask in masks.items():
        out[column] = out[column].astype(object)
        out.loc[mask, column] = label
    return out
