"""Statistical disclosure control: the one rule for sensitive figures, wherever they are shown.

Counts of domestic abuse, sexual offences, exploitation, modern slavery and hate crime for small
areas can point at victims. The rule (:class:`DisclosureRule`, configurable threshold, default 7):

1. **Primary**: below partnership level, a sensitive count from 1 to the threshold is withheld.
   Zero is shown. The partnership (city) level is always shown.
2. **Secondary** (complementary): a withheld figure must not be recoverable from the figures
   around it. The areas form a tree (LSOAs in wards, wards in LCSPs, LCSPs in the partnership)
   and a shown parent is the sum of its children, so in every group of siblings whose parent is
   shown, the withheld children must be at least two and add up to more than the threshold (and
   to more than their number, so that "all ones" cannot be inferred); further children, smallest
   first, are withheld until that holds. A withheld parent whose children are all shown would be
   their sum, so one child is withheld too. The rule runs on the complete tree for a measure and
   period, never on the rows a page happens to show, so every view (cards, tables, maps and their
   tooltips, downloads, board packs) withholds the same cells and no two views can be differenced.
3. **Periods**: below partnership level, sensitive figures are given only for standard periods,
   a whole financial year or the latest year to date. Two overlapping month ranges could
   otherwise be subtracted to give a single month; so monthly series and custom month ranges of
   sensitive measures are shown at partnership level only.
4. **No mixing**: below partnership level, a sensitive category is only ever shown on its own.
   Figures that add categories up (all recorded crime, weapon-enabled offences, a total row)
   leave the sensitive categories out there; otherwise "all crime" minus every other category,
   each shown somewhere, would give the sensitive one. The sensitive flags (domestic abuse,
   VAWG, hate crime) count recorded crime of every category and are not broken down by category
   below partnership level.
5. Every withheld figure shows the same label, :data:`WITHHELD`, whether it is small or withheld
   to protect another, and anything computed from it (a rate, a change) is withheld too.

Full detail (no withholding) is given inside an LCSP manager's own LCSPs (``detail_lcsps``); the
rule then treats those cells as known to the viewer, so that complementary cells are chosen
elsewhere and nothing outside their LCSPs can be worked out from what they see.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

SUPPRESSION_THRESHOLD = 7
WITHHELD = "withheld"
# Flag columns of the aggregates whose counts are sensitive in themselves.
SENSITIVE_FLAGS = ("n_domestic_abuse", "n_vawg", "n_hate")
LEVEL_ORDER = ("partnership", "lcsp", "ward", "lsoa")


@dataclass(frozen=True)
class DisclosureRule:
    """The disclosure rule for one viewer: the threshold and where they see full detail."""

    threshold: int = SUPPRESSION_THRESHOLD
    detail_lcsps: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not 1 <= int(self.threshold) <= 100:
            raise ValueError("the disclosure threshold must be between 1 and 100")

    @property
    def key(self) -> str:
        """A short text that identifies the rule (part of cache keys)."""
        return f"t{self.threshold}:" + ",".join(sorted(self.detail_lcsps))

    def is_small(self, count) -> bool:
        """True when ``count`` is from 1 to the threshold."""
        return count is not None and not pd.isna(count) and 1 <= count <= self.threshold

    def full_detail(self, lcsp: str | None) -> bool:
        """True when the viewer sees everything about ``lcsp`` (their own LCSP)."""
        return lcsp is not None and lcsp in self.detail_lcsps

    def applies(self, *, level: str, lcsp: str | None = None) -> bool:
        """True when sensitive figures for an area at ``level`` in ``lcsp`` are protected."""
        return level != "partnership" and not self.full_detail(lcsp)

    # --- the area tree -----------------------------------------------------------------------

    def protect_tree(self, tree: pd.DataFrame) -> pd.Series:
        """Which cells of one measure's area tree are withheld (a boolean Series on its index).

        ``tree`` has one row per area: columns area_code, level ("partnership", "lcsp", "ward",
        "lsoa"), parent_code (None for the partnership), lcsp_code (the LCSP the area lies in;
        None for the partnership) and n (the count). Every child of a parent must be present.
        """
        n = pd.to_numeric(tree["n"], errors="coerce").fillna(0).to_numpy(dtype="int64")
        level = tree["level"].to_numpy()
        known = (level == "partnership") | tree["lcsp_code"].isin(self.detail_lcsps).to_numpy()
        withheld = (~known) & (n >= 1) & (n <= self.threshold)
        codes = tree["area_code"].to_numpy()
        position = {code: i for i, code in enumerate(codes)}
        parents = tree["parent_code"].to_numpy()
        groups: dict[int, list[int]] = {}
        for i, parent in enumerate(parents):
            if parent is not None and not pd.isna(parent) and parent in position:
                groups.setdefault(position[parent], []).append(i)
        groups_arr = {p: np.array(children, dtype=int) for p, children in groups.items()}
        # Parents deepest first, so that a node's mass is known before its parent's.
        depth = {"partnership": 0, "lcsp": 1, "ward": 2, "lsoa": 3}
        order = sorted(groups_arr, key=lambda p: -depth.get(level[p], 0))

        def masses() -> np.ndarray:
            # The part of a withheld figure that the figures shown around it do not pin down:
            # a leaf's own count; a parent's, the masses of its withheld children (its shown
            # children can be subtracted).
            mass = n.astype(float).copy()
            for parent in order:
                children = groups_arr[parent]
                hidden = children[withheld[children]]
                mass[parent] = mass[hidden].sum()
            return mass

        changed = True
        while changed:
            changed = False
            for parent in order:
                children = groups_arr[parent]
                if withheld[parent]:
                    # A withheld parent must not be the sum of its shown children, and what its
                    # withheld children hide must be more than a small count.
                    while masses()[children[withheld[children]]].sum() <= self.threshold:
                        pick = self._complement(children, n, withheld, known)
                        if pick is None:
                            break
                        withheld[pick] = changed = True
                    continue
                while True:
                    hidden = children[withheld[children]]
                    if not len(hidden) or self._safe(masses()[hidden]):
                        break
                    pick = self._complement(children, n, withheld, known)
                    if pick is None:  # nothing left to withhold here: withhold the parent
                        if not known[parent]:
                            withheld[parent] = changed = True
                        break
                    withheld[pick] = changed = True
        return pd.Series(withheld, index=tree.index)

    def _safe(self, hidden_masses: np.ndarray) -> bool:
        """Withheld siblings are safe when at least two, hiding more than the threshold and more
        than their number between them."""
        total = float(hidden_masses.sum())
        return len(hidden_masses) >= 2 and total > max(self.threshold, len(hidden_masses))

    @staticmethod
    def _complement(children: np.ndarray, n: np.ndarray, withheld: np.ndarray,
                    known: np.ndarray) -> int | None:
        """The next sibling to withhold: the smallest non-zero shown one, else a zero."""
        candidates = children[~withheld[children] & ~known[children]]
        if len(candidates) == 0:
            return None
        counts = n[candidates]
        nonzero = candidates[counts > 0]
        pool = nonzero if len(nonzero) else candidates
        return int(pool[np.argmin(n[pool])])  # first of the smallest: deterministic


# --- periods ------------------------------------------------------------------------------------

def standard_period(start, end, fy_periods: Iterable[tuple]) -> bool:
    """True when [start, end] is one of ``fy_periods`` ((start, end) of each whole financial year
    and of the latest year to date): the only periods with sensitive figures below partnership
    level (rule 3)."""
    return any(start == s and end == e for s, e in fy_periods)


# --- building the tree ------------------------------------------------------------------------

def area_tree(lsoa_counts: pd.DataFrame, membership: pd.DataFrame, partnership_code: str,
              columns: Iterable[str]) -> pd.DataFrame:
    """The area tree for each count column: LSOA rows summed to wards, LCSPs and the partnership.

    ``lsoa_counts`` has columns lsoa_code plus ``columns``; ``membership`` has lsoa_code,
    ward_code, lcsp_code for every LSOA of the partnership (LSOAs with no incidents count 0).
    Returns columns area_code, level, parent_code, lcsp_code and one column per count.
    """
    columns = list(columns)
    base = membership[["lsoa_code", "ward_code", "lcsp_code"]].drop_duplicates("lsoa_code")
    counts = lsoa_counts.groupby("lsoa_code", as_index=False)[columns].sum()
    lsoas = base.merge(counts, on="lsoa_code", how="left")
    lsoas[columns] = lsoas[columns].fillna(0).astype("int64")
    wards = lsoas.groupby(["ward_code", "lcsp_code"], as_index=False)[columns].sum()
    lcsps = lsoas.groupby("lcsp_code", as_index=False)[columns].sum()
    total = lsoas[columns].sum().to_frame().T
    parts = [
        total.assign(area_code=partnership_code, level="partnership", parent_code=None,
                     lcsp_code=None),
        lcsps.assign(area_code=lcsps["lcsp_code"], level="lcsp", parent_code=partnership_code),
        wards.assign(area_code=wards["ward_code"], level="ward", parent_code=wards["lcsp_code"]),
        lsoas.assign(area_code=lsoas["lsoa_code"], level="lsoa", parent_code=lsoas["ward_code"]),
    ]
    keep = ["area_code", "level", "parent_code", "lcsp_code", *columns]
    tree = pd.concat([p[keep] for p in parts], ignore_index=True)
    tree[columns] = tree[columns].astype("int64")
    return tree


def withheld_cells(tree: pd.DataFrame, columns: Iterable[str], rule: DisclosureRule
                   ) -> dict[str, frozenset[str]]:
    """For each sensitive count column of ``tree`` (see :func:`area_tree`), the area codes whose
    figure is withheld for a viewer under ``rule``."""
    out: dict[str, frozenset[str]] = {}
    for column in columns:
        frame = tree[["area_code", "level", "parent_code", "lcsp_code"]].assign(n=tree[column])
        mask = rule.protect_tree(frame)
        out[column] = frozenset(tree.loc[mask.to_numpy(), "area_code"])
    return out


# --- applying it to a frame ---------------------------------------------------------------------

def suppressed_label(threshold: int = SUPPRESSION_THRESHOLD) -> str:
    """What a withheld figure shows instead of the number (the same for every withheld cell)."""
    del threshold
    return WITHHELD


def note(rule: DisclosureRule | None = None) -> str:
    """The sentence that explains withheld figures on a page."""
    threshold = (rule or DisclosureRule()).threshold
    return (f"“{WITHHELD}”: to protect victims, counts of sensitive crimes from 1 to {threshold} "
            "below partnership level are not shown, nor any figure they could be worked out "
            "from; below partnership level these are given for whole financial years (or the "
            "latest year to date) only.")


def is_suppressed(count: float | None, threshold: int = SUPPRESSION_THRESHOLD) -> bool:
    """True when ``count`` is small enough (1..threshold) to be withheld on its own."""
    return count is not None and not pd.isna(count) and 1 <= count <= threshold


def withhold(frame: pd.DataFrame, mask, columns: Iterable[str],
             dependent: Iterable[str] = ()) -> pd.DataFrame:
    """A copy of ``frame`` with ``columns`` showing :data:`WITHHELD` and ``dependent`` columns
    (rates, changes) blanked where ``mask`` is True. The columns become object dtype."""
    out = frame.copy()
    mask = np.asarray(mask, dtype=bool)
    for column in dependent:
        out[column] = out[column].astype(object)
        out.loc[mask, column] = None
    for column in columns:
        out[column] = out[column].astype(object)
        out.loc[mask, column] = WITHHELD
    return out


def suppress_small_counts(
    frame: pd.DataFrame,
    columns: Iterable[str],
    threshold: int = SUPPRESSION_THRESHOLD,
    dependent: Mapping[str, Iterable[str]] | None = None,
) -> pd.DataFrame:
    """Primary suppression only, for a frame that is not part of an area tree (e.g. categories
    of one area): counts 1..threshold in ``columns`` withheld, with their ``dependent`` columns.

    Where the rows are areas, use :func:`withheld_cells` instead, which adds the secondary rule.
    """
    out = frame.copy()
    dependent = dependent or {}
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
        out.loc[mask, column] = WITHHELD
    return out
