"""The disclosure rule on pages: which sensitive figures this viewer may see.

Every page asks here, so the same cells are withheld everywhere (cards, tables, maps and their
tooltips, downloads, board packs): see :mod:`kpis.disclosure` for the rule. The threshold is
configurable (``CSP_DISCLOSURE_THRESHOLD``, or ``threshold`` under ``[disclosure]`` in
``.streamlit/secrets.toml``; default 7). The withheld cells are computed once per period on
the whole area tree and cached under the viewer's scope (:attr:`kpis.access.Access.scope`).
"""

from __future__ import annotations

import logging
import os

import streamlit as st

from data_access import connection
from data_access import disclosure_queries as dq
from kpis import disclosure
from kpis.disclosure import DisclosureRule
from kpis.periods import Period
from pages.common import auth, shell

logger = logging.getLogger("csp_dashboard")
category_key = dq.category_key
# Headline flags that are sensitive, by the flag name the KPI registry uses.
FLAG_KEYS = {"is_domestic_abuse": "n_domestic_abuse", "is_vawg": "n_vawg", "is_hate": "n_hate",
             "n_domestic_abuse": "n_domestic_abuse", "n_vawg": "n_vawg", "n_hate": "n_hate"}


def threshold() -> int:
    """The configured threshold (a bad setting falls back to the default, said in the log)."""
    raw = os.environ.get("CSP_DISCLOSURE_THRESHOLD", "").strip()
    if not raw:
        try:
            raw = str(st.secrets.get("disclosure", {}).get("threshold", "")).strip()
        except Exception:  # no secrets file
            raw = ""
    if not raw:
        return disclosure.SUPPRESSION_THRESHOLD
    try:
        value = int(raw)
        DisclosureRule(threshold=value)
        return value
    except ValueError:
        logger.error("disclosure threshold %r is not a whole number from 1 to 100; using %d",
                     raw, disclosure.SUPPRESSION_THRESHOLD)
        return disclosure.SUPPRESSION_THRESHOLD


def rule() -> DisclosureRule:
    """The rule for the current viewer."""
    return DisclosureRule(threshold=threshold(), detail_lcsps=auth.current().detail_lcsps)


def is_standard(period: Period) -> bool:
    """True when ``period`` is a whole financial year or the latest year to date."""
    ctx = shell.current_context()
    if ctx is None:
        return False
    return disclosure.standard_period(period.start, period.end,
                                      ((p.start, p.end) for p in ctx.fy_periods.values()))


def withheld_map(period: Period) -> dict[str, frozenset[str]] | None:
    """Withheld area codes per sensitive measure for ``period``; None when the period is not a
    standard one (then every sensitive figure below partnership level is withheld)."""
    if not is_standard(period):
        return None
    current = rule()
    return connection.cached(
        dq.load_withheld, scope=auth.scope(),
        month_from=period.start.replace(day=1), month_to=period.end.replace(day=1),
        threshold=current.threshold, detail_lcsps=tuple(sorted(current.detail_lcsps)))


def _withheld(current: DisclosureRule, cells: dict[str, frozenset[str]] | None,
              measure_key: str, area_code: str, level: str, lcsp: str | None) -> bool:
    if not current.applies(level=level, lcsp=lcsp):
        return False
    if cells is None:
        return True
    return area_code in cells.get(measure_key, frozenset())


def is_withheld(measure_key: str, period: Period, *, area_code: str, level: str,
                lcsp: str | None) -> bool:
    """True when this viewer may not see ``measure_key``'s figure for the area and period."""
    current = rule()
    if not current.applies(level=level, lcsp=lcsp):
        return False  # no need to look the period up
    return _withheld(current, withheld_map(period), measure_key, area_code, level, lcsp)


def withheld_codes(measure_key: str, period: Period, *, level: str, codes, lcsp_of) -> list[bool]:
    """:func:`is_withheld` for many areas of one level; ``lcsp_of`` maps area code to LCSP.

    The rule and the period's withheld cells are read once (each cache hit unpickles a copy),
    not once per area.
    """
    current = rule()
    cells = withheld_map(period) if level != "partnership" else None
    return [_withheld(current, cells, measure_key, c, level, lcsp_of(c)) for c in codes]


def sensitive_categories() -> frozenset[tuple[str, str]]:
    """(source, category) pairs flagged sensitive."""
    return frozenset(connection.cached(dq.load_sensitive_categories))


def unmixed(frame, *, lcsp: str | None = None, level: str = "lcsp",
            area_column: str | None = None, lcsp_of=None):
    """``frame`` (rows with source and category columns) without the sensitive categories'
    rows, for figures that add categories up below partnership level (rule 4 of
    :mod:`kpis.disclosure`). Rows of the viewer's own LCSPs are kept: there they see everything.

    For a frame of one area, give its ``lcsp`` (and ``level``); for a frame with an area
    column, give ``area_column`` and ``lcsp_of`` (area code -> LCSP code).
    """
    if level == "partnership" or frame is None or frame.empty:
        return frame
    current = rule()
    pairs = sensitive_categories()
    sensitive = [(s, c) in pairs for s, c in zip(frame["source"], frame["category"])]
    if area_column is None:
        if current.full_detail(lcsp):
            return frame
        keep = [not s for s in sensitive]
    else:
        own = [current.full_detail(lcsp_of(code)) for code in frame[area_column]]
        keep = [o or not s for o, s in zip(own, sensitive)]
    return frame.loc[keep]


def unmixed_note() -> str:
    """The sentence that says totals below partnership level leave sensitive categories out."""
    return ("Below partnership level, totals leave out the sensitive categories (shown on their "
            "own, withheld where small), so that they cannot be worked out by subtraction.")


def audit_sensitive_view(page: str, what: str, filters: shell.Filters) -> None:
    """Audit-log a view of sensitive figures below partnership level."""
    auth.audit_view(page, f"{what}; {filters.area_label}; {filters.period.label}")
