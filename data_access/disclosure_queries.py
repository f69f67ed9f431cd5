"""The counts behind the disclosure rule, and the withheld cells per viewer scope.

:func:`load_withheld` runs :func:`kpis.disclosure.DisclosureRule.protect_tree` on the complete
area tree of every sensitive measure for a period, so that every page withholds the same cells.
Call it through ``connection.cached(..., scope=<the viewer's scope>)``: what it returns depends on
the viewer (an LCSP manager sees their own LCSPs in full), so one scope's result is never served
to another.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from data_access import schema
from data_access.frames import read_frame
from kpis import disclosure
from kpis.disclosure import DisclosureRule


# The sensitive flags are counted over police recorded crime, as every page shows them.
FLAG_SOURCE = "recorded_crime"


def category_key(source: str, category: str) -> str:
    """The key of a sensitive category in :func:`load_withheld`'s result, e.g.
    "category:recorded_crime/sexual_offences"."""
    return f"category:{source}/{category}"


def load_sensitive_categories(engine: sa.Engine) -> tuple[tuple[str, str], ...]:
    """(source, category) of every category flagged sensitive."""
    cats = schema.categories
    stmt = (sa.select(cats.c.source, cats.c.category).where(cats.c.is_sensitive.is_(True))
            .order_by(cats.c.source, cats.c.category))
    with engine.connect() as conn:
        return tuple((r.source, r.category) for r in conn.execute(stmt))


def load_sensitive_lsoa_counts(engine: sa.Engine, month_from: dt.date, month_to: dt.date
                               ) -> pd.DataFrame:
    """Counts by LSOA for months in [month_from, month_to]: columns lsoa_code, ward_code,
    lcsp_code, the sensitive flag counts (n_domestic_abuse, n_vawg, n_hate: recorded crime, as the
    pages count them) and one column per sensitive category named by :func:`category_key`."""
    ml, cats = schema.agg_month_lsoa, schema.categories
    period = [ml.c.month_start >= month_from, ml.c.month_start <= month_to]
    flags = read_frame(engine, sa.select(
        ml.c.lsoa_code, ml.c.ward_code, ml.c.lcsp_code,
        *[sa.func.sum(ml.c[f]).label(f) for f in disclosure.SENSITIVE_FLAGS],
    ).where(*period, ml.c.source == FLAG_SOURCE)
      .group_by(ml.c.lsoa_code, ml.c.ward_code, ml.c.lcsp_code))
    sensitive = sa.exists().where(cats.c.source == ml.c.source, cats.c.category == ml.c.category,
                                  cats.c.is_sensitive.is_(True))
    by_category = read_frame(engine, sa.select(
        ml.c.lsoa_code, ml.c.source, ml.c.category, sa.func.sum(ml.c.n).label("n"),
    ).where(*period, sensitive).group_by(ml.c.lsoa_code, ml.c.source, ml.c.category))
    frame = flags.copy()
    for column in disclosure.SENSITIVE_FLAGS:
        frame[column] = pd.to_numeric(frame[column]).fillna(0).astype("int64")
    if len(by_category):
        by_category["key"] = [category_key(s, c) for s, c in
                              zip(by_category["source"], by_category["category"])]
        wide = by_category.pivot_table(index="lsoa_code", columns="key", values="n",
                                       aggfunc="sum", fill_value=0)
        frame = frame.merge(wide.reset_index(), on="lsoa_code", how="left")
    return frame.fillna(0)


def load_withheld(engine: sa.Engine, month_from: dt.date, month_to: dt.date, threshold: int,
                  detail_lcsps: tuple[str, ...] = ()) -> dict[str, frozenset[str]]:
    """For each sensitive measure (flag column or :func:`category_key`), the codes of the areas
    (LCSP, ward, LSOA) whose figure for the period is withheld from this viewer."""
    counts = load_sensitive_lsoa_counts(engine, month_from, month_to)
    rule = DisclosureRule(threshold=threshold, detail_lcsps=frozenset(detail_lcsps))
    columns = [c for c in counts.columns if c in disclosure.SENSITIVE_FLAGS
               or c.startswith("category:")]
    membership = counts[["lsoa_code", "ward_code", "lcsp_code"]]
    tree = disclosure.area_tree(counts, membership, "partnership", columns)
    return disclosure.withheld_cells(tree, columns, rule)
