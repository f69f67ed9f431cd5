"""The disclosure rule on area trees, attacked the way a user would: every figure a page can show
is an equation (a parent is the sum of its children), so a withheld cell is safe only if those
equations leave it undetermined and not provably small."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

from kpis import disclosure
from kpis.disclosure import DisclosureRule


def tree(partnership: int | None = None, **children) -> pd.DataFrame:
    """A tree from nested dicts: lcsp -> {ward: count | {lsoa: count}}."""
    rows = []
    for lcsp, wards in children.items():
        for ward, value in wards.items():
            lsoas = value if isinstance(value, dict) else None
            count = sum(lsoas.values()) if lsoas else value
            rows.append((ward, "ward", lcsp, lcsp, count))
            for lsoa, n in (lsoas or {}).items():
                rows.append((lsoa, "lsoa", ward, lcsp, n))
        total = sum(r[4] for r in rows if r[1] == "ward" and r[2] == lcsp)
        rows.append((lcsp, "lcsp", "P", lcsp, total))
    total = sum(r[4] for r in rows if r[1] == "lcsp")
    rows.append(("P", "partnership", None, None, total))
    return pd.DataFrame(rows, columns=["area_code", "level", "parent_code", "lcsp_code", "n"])


def attack(frame: pd.DataFrame, withheld: pd.Series) -> dict[str, tuple[float, float]]:
    """For each withheld cell, the least and greatest value consistent with every shown figure
    and every parent = sum of children equation (linear programming, values >= 0)."""
    codes = list(frame["area_code"])
    index = {c: i for i, c in enumerate(codes)}
    hidden = [i for i, w in enumerate(withheld) if w]
    if not hidden:
        return {}
    var = {i: k for k, i in enumerate(hidden)}
    rows, rhs = [], []
    for parent in frame["area_code"]:
        kids = [index[c] for c in frame.loc[frame["parent_code"] == parent, "area_code"]]
        if not kids:
            continue
        members = [index[parent]] + kids
        coefficients = np.zeros(len(hidden))
        constant = 0.0
        for sign, i in [(1, index[parent])] + [(-1, k) for k in kids]:
            if i in var:
                coefficients[var[i]] += sign
            else:
                constant -= sign * frame["n"].iloc[i]
        if coefficients.any():
            rows.append(coefficients)
            rhs.append(constant)
        del members
    bounds = [(0, None)] * len(hidden)
    out = {}
    for i in hidden:
        c = np.zeros(len(hidden))
        c[var[i]] = 1
        low = linprog(c, A_eq=np.array(rows) if rows else None, b_eq=rhs or None, bounds=bounds)
        high = linprog(-c, A_eq=np.array(rows) if rows else None, b_eq=rhs or None, bounds=bounds)
        upper = float("inf") if high.status == 3 else -high.fun
        out[codes[i]] = (low.fun, upper)
    return out


def assert_safe(frame: pd.DataFrame, rule: DisclosureRule) -> pd.Series:
    withheld = rule.protect_tree(frame)
    n = dict(zip(frame["area_code"], frame["n"]))
    small = {c for c, lvl, lcsp in zip(frame["area_code"], frame["level"], frame["lcsp_code"])
             if lvl != "partnership" and lcsp not in rule.detail_lcsps
             and 1 <= n[c] <= rule.threshold}
    shown = set(frame.loc[~withheld.to_numpy(), "area_code"])
    assert not (small & shown), f"small counts shown: {small & shown}"
    # What the viewer knows anyway (the partnership total and their own LCSPs) can pin a cell
    # whatever is withheld (two LCSPs: the other one is the total minus theirs); only cells that
    # withholding everything else would protect are held to the rule.
    known = (frame["level"] == "partnership") | frame["lcsp_code"].isin(rule.detail_lcsps)
    protectable = {code for code, (low, high) in attack(frame, ~known).items()
                   if high - low >= 1 and high > rule.threshold}
    for code, (low, high) in attack(frame, withheld).items():
        if code not in protectable:
            continue
        assert high - low >= 1 - 1e-6, f"{code} ({n[code]}) pinned to {low}..{high}"
        if code in small:
            assert high > rule.threshold, f"{code} ({n[code]}) provably small: {low}..{high}"
    return withheld


def test_one_small_ward_takes_a_second_one_with_it():
    frame = tree(L1={"W1": 3, "W2": 40, "W3": 25}, L2={"W4": 50, "W5": 60})
    withheld = assert_safe(frame, DisclosureRule())
    assert set(frame.loc[withheld.to_numpy(), "area_code"]) == {"W1", "W3"}


def test_zero_is_shown_and_partnership_never_withheld():
    frame = tree(L1={"W1": 0, "W2": 40}, L2={"W3": 2, "W4": 1})
    withheld = assert_safe(frame, DisclosureRule())
    hidden = set(frame.loc[withheld.to_numpy(), "area_code"])
    assert "W1" not in hidden and "P" not in hidden
    # W3 + W4 = 3 is itself small: their LCSP goes, and another LCSP to protect it.
    assert {"W3", "W4", "L2", "L1"} <= hidden


def test_all_ones_cannot_be_inferred():
    frame = tree(L1={f"W{i}": 1 for i in range(9)} | {"W9": 100}, L2={"W10": 80})
    assert_safe(frame, DisclosureRule())


def test_withheld_parent_is_not_the_sum_of_shown_children():
    frame = tree(L1={"W1": {"A": 2, "B": 30, "C": 40}, "W2": {"D": 3, "E": 1}}, L2={"W3": 90})
    assert_safe(frame, DisclosureRule())


def test_own_lcsp_is_known_and_complements_are_found_elsewhere():
    frame = tree(L1={"W1": 3, "W2": 40}, L2={"W3": 5, "W4": 30, "W5": 44}, L3={"W6": 70})
    rule = DisclosureRule(detail_lcsps=frozenset({"L1"}))
    withheld = assert_safe(frame, rule)
    hidden = set(frame.loc[withheld.to_numpy(), "area_code"])
    assert not hidden & {"L1", "W1", "W2"}
    assert {"W3", "W4"} <= hidden


@pytest.mark.parametrize("seed", range(60))
def test_random_trees_resist_differencing(seed):
    rng = np.random.default_rng(seed)
    spec = {}
    for l in range(rng.integers(2, 5)):
        spec[f"L{l}"] = {}
        for w in range(rng.integers(1, 6)):
            lsoas = {f"S{l}{w}{s}": int(rng.choice([0, 1, 2, 3, 5, 8, 15, 40]))
                     for s in range(rng.integers(1, 5))}
            spec[f"L{l}"][f"W{l}{w}"] = lsoas
    frame = tree(**spec)
    threshold = int(rng.choice([3, 5, 7, 10]))
    detail = frozenset({"L0"}) if seed % 3 == 0 else frozenset()
    assert_safe(frame, DisclosureRule(threshold=threshold, detail_lcsps=detail))


def test_standard_periods_only():
    import datetime as dt
    fy = [(dt.date(2025, 4, 1), dt.date(2026, 3, 31)), (dt.date(2026, 4, 1), dt.date(2026, 10, 31))]
    assert disclosure.standard_period(dt.date(2025, 4, 1), dt.date(2026, 3, 31), fy)
    assert not disclosure.standard_period(dt.date(2025, 4, 1), dt.date(2025, 9, 30), fy)


def test_threshold_is_validated():
    with pytest.raises(ValueError):
        DisclosureRule(threshold=0)
