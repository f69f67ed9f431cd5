"""Roles and the disclosure rule on the Data explorer and the data status page, through app.py
with AppTest in the local demo mode (a role chosen as ``auth_demo_role``).

- Only roles with "explore" reach the explorer; the page locks itself too.
- Roles without "download" see no download on the data status page (fund and calendar pages:
  their own test files).
- Differencing attacks that must fail: (a) a sensitive category by ward with its totals, beside
  the LCSP figures any page shows, gives no withheld ward away; (b) two overlapping month ranges
  of a sensitive measure for one ward are both withheld; (c) the CSV and XLSX carry the same
  withheld cells as the screen.
- Views of sensitive figures below partnership level are written to the audit log.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
import sqlalchemy as sa
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from data_access import disclosure_queries as dq
from data_access import explorer_queries as eq
from data_access import schema
from kpis import disclosure
from kpis.disclosure import DisclosureRule
from kpis.periods import fy_period

ROOT = Path(__file__).resolve().parents[2]
EXPLORER = "pages/explorer.py"
FY = (dt.date(2025, 4, 1), dt.date(2026, 3, 31))
THRESHOLD = disclosure.SUPPRESSION_THRESHOLD
SEXUAL_OFFENCES = dq.category_key("recorded_crime", "sexual_offences")
W = disclosure.WITHHELD


def open_app(role: str, page: str | None = None, lcsps: list[str] | None = None,
             **params: str) -> AppTest:
    """The app as ``role`` would see it, switched to ``page``, then given ``params`` as a link
    would give them."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["auth_demo_role"] = role
    if lcsps is not None:
        at.session_state["auth_demo_lcsps"] = lcsps
    at.run()
    if page is not None:
        at.switch_page(page).run()
    if params:
        for key, value in params.items():
            at.query_params[key] = value
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def explorer(**params: str) -> AppTest:
    """The explorer as an analyst."""
    return open_app("analyst", EXPLORER, **params)


def pivot(at: AppTest) -> pd.DataFrame:
    return at.dataframe[0].value


def number(value) -> int | str:
    """A figure as the screen shows it ("1,234" or 1234) as a number; the label as it is."""
    if isinstance(value, str):
        return value if value == W else int(value.replace(",", ""))
    return int(value)


def sexual_offences_by_ward(engine, start: dt.date, end: dt.date) -> pd.DataFrame:
    """True counts: ward_code, lcsp_code, n (every ward with incidents in the period)."""
    mw = schema.agg_month_ward
    n = sa.func.sum(sa.case((mw.c.category == "sexual_offences", mw.c.n), else_=0))
    statement = (sa.select(mw.c.ward_code, mw.c.lcsp_code, n.label("n"))
                 .where(mw.c.month_start >= start, mw.c.month_start <= end, mw.c.ward_code != "")
                 .group_by(mw.c.ward_code, mw.c.lcsp_code))
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(statement).all(), columns=["ward_code", "lcsp_code", "n"])
    frame["n"] = frame["n"].astype(int)
    return frame


# --- roles ------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["viewer", "board_member", "lcsp_manager"])
def test_the_explorer_is_not_reachable_without_the_explore_capability(role):
    at = open_app(role, lcsps=["LCSP-N"] if role == "lcsp_manager" else None)
    with pytest.raises(ValueError, match="explorer"):
        at.switch_page(EXPLORER)
    assert not any(e.key == "explorer_measure" for e in at.selectbox)
    # An analyst has it.
    at = explorer()
    assert at.title[0].value == "Data explorer" and len(at.dataframe) == 1


def test_the_explorer_page_locks_itself_when_run_without_the_app():
    at = AppTest.from_file(str(ROOT / EXPLORER), default_timeout=60)
    at.run()
    assert not at.exception
    assert "your role does not include it" in " ".join(w.value for w in at.warning)
    assert not at.dataframe and not at.get("download_button")


def test_a_viewer_gets_no_download_on_the_data_status_page():
    at = open_app("viewer", "pages/data_status.py")
    assert at.dataframe, "the page draws its tables"
    assert not at.get("download_button")
    at = open_app("admin", "pages/data_status.py")
    assert [b.proto.label for b in at.get("download_button")] == ["Download CSV"]


# --- differencing attacks -----------------------------------------------------------------------

def test_a_sensitive_category_by_ward_with_totals_gives_no_withheld_ward_away(sample_engine):
    """(a) Sexual offences by ward, its total, the explorer's LCSP figures (the same as the
    Overview's) and the partnership's: no withheld ward can be worked out."""
    month_to = dt.date(2026, 3, 1)
    truth = sexual_offences_by_ward(sample_engine, FY[0], month_to)
    wards_of = truth.groupby("lcsp_code")["ward_code"].apply(list).to_dict()
    true_ward = dict(zip(truth["ward_code"], truth["n"]))
    true_lcsp = truth.groupby("lcsp_code")["n"].sum().to_dict()
    partnership = int(truth["n"].sum())
    rule_cells = dq.load_withheld(sample_engine, FY[0], month_to, THRESHOLD)[SEXUAL_OFFENCES]

    common = dict(fy="2025/26", ex_cols="none", ex_cats="sexual_offences")
    table = pivot(explorer(ex_level="ward", **common))
    wards = table[table["Ward"] != "Total"]
    shown = {c: number(v) for c, v in zip(wards["Code"], wards["Incidents"])}
    # Every ward is listed, with none or some: a missing row would say "zero".
    assert set(shown) == set(true_ward)
    withheld = {c for c, v in shown.items() if v == W}
    assert withheld == {c for c in true_ward if c in rule_cells}, "the rule's cells, no others"
    assert withheld, "the sample has small counts to protect"
    assert all(shown[c] == true_ward[c] for c in shown if c not in withheld)
    ward_total = number(table.loc[table["Ward"] == "Total", "Incidents"].iloc[0])
    assert ward_total == W  # it adds up withheld wards

    lcsps = pivot(explorer(ex_level="lcsp", **common))
    lcsp_shown = {c: number(v) for c, v in zip(lcsps["Code"], lcsps["Incidents"]) if c}
    assert {c for c, v in lcsp_shown.items() if v == W} == {c for c in true_lcsp
                                                          if c in rule_cells}
    whole = pivot(explorer(ex_level="partnership", **common))
    assert number(whole["Incidents"].iloc[0]) == partnership  # the city is always shown

    # Within every LCSP that is shown, the withheld wards are none, or two or more adding up
    # to more than the threshold (and than their number).
    for lcsp, value in lcsp_shown.items():
        if value == W:
            continue
        hidden = [true_ward[c] for c in wards_of[lcsp] if c in withheld]
        assert not hidden or (len(hidden) >= 2 and sum(hidden) > max(THRESHOLD, len(hidden))), \
            (lcsp, hidden)
    # And no withheld ward follows from all the sums shown (linear algebra over the unknowns:
    # withheld wards and LCSPs; the sums are each shown LCSP, each withheld LCSP as its wards,
    # the partnership as its LCSPs, and the ward table's total if it were shown).
    unknowns = sorted(withheld) + sorted(c for c, v in lcsp_shown.items() if v == W)
    index = {u: k for k, u in enumerate(unknowns)}
    rows = []
    for lcsp, wards_in in wards_of.items():
        row = np.zeros(len(unknowns))
        for c in wards_in:
            if c in index:
                row[index[c]] += 1
        if lcsp in index:
            row[index[lcsp]] -= 1
        rows.append(row)
    rows.append(np.array([1.0 if u in lcsp_shown else 0.0 for u in unknowns]))
    if ward_total != W:
        rows.append(np.array([1.0 if u in withheld else 0.0 for u in unknowns]))
    system = np.array(rows)
    rank = np.linalg.matrix_rank(system)
    for ward in withheld:
        probe = np.zeros(len(unknowns))
        probe[index[ward]] = 1
        assert np.linalg.matrix_rank(np.vstack([system, probe])) > rank, \
            f"{ward} could be worked out"


@pytest.mark.parametrize("rows", ["area", "period"])
def test_two_overlapping_month_ranges_of_one_ward_are_both_withheld(sample_engine, rows):
    """(b) Apr-Sep and Apr-Aug of domestic abuse in one ward would give September."""
    mw = schema.agg_month_ward
    statement = (
        sa.select(mw.c.ward_code, mw.c.lcsp_code, sa.func.sum(mw.c.n_domestic_abuse).label("n"))
        .where(mw.c.month_start == dt.date(2025, 9, 1), mw.c.ward_code != "")
        .group_by(mw.c.ward_code, mw.c.lcsp_code).order_by(sa.desc("n"), mw.c.ward_code)
        .limit(1))
    with sample_engine.connect() as conn:
        ward, lcsp, september = conn.execute(statement).one()
    assert september > THRESHOLD  # not small: only the period rule withholds it

    def view(**params):
        table = pivot(explorer(lcsp=lcsp, ward=ward, ex_measure="domestic_abuse",
                               ex_rows=rows, ex_level="ward", ex_cols="none", **params))
        return [number(v) for v in table["Domestic abuse"]]

    for to in ("2025-09", "2025-08"):
        figures = view(**{"from": "2025-04", "to": to})
        assert figures and set(figures) == {W}, (to, figures)
    # The test can fail: the whole year is a standard period, shown for this ward ...
    year = view(fy="2025/26")
    if rows == "area":
        withheld = dq.load_withheld(sample_engine, FY[0], dt.date(2026, 3, 1), THRESHOLD)
        assert ward not in withheld["n_domestic_abuse"]
        assert year == [_flag_count(sample_engine, ward, FY)]
    else:  # ... but not month by month
        assert set(year) == {W}
    # ... and the partnership's months are shown.
    table = pivot(explorer(**{"from": "2025-04", "to": "2025-09"}, ex_measure="domestic_abuse",
                           ex_rows="period", ex_level="partnership", ex_cols="none"))
    assert W not in set(table["Domestic abuse"])


def _flag_count(engine, ward: str, period: tuple[dt.date, dt.date]) -> int:
    mw = schema.agg_month_ward
    statement = sa.select(sa.func.sum(mw.c.n_domestic_abuse)).where(
        mw.c.ward_code == ward, mw.c.month_start >= period[0], mw.c.month_start <= period[1])
    with engine.connect() as conn:
        return int(conn.execute(statement).scalar_one())


def test_the_downloads_carry_the_same_withheld_cells_as_the_screen(monkeypatch):
    """(c) What the CSV and XLSX buttons would send, made by the page's own functions."""
    made: dict[str, object] = {}
    original = MediaFileManager.add_deferred

    def spy(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        made[file_name] = data_callable
        return original(self, data_callable, mimetype, coordinates, file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", spy)
    at = explorer(fy="2025/26", ex_rows="category", ex_cols="area", ex_level="ward",
                  lcsp="LCSP-N", ex_sources="recorded_crime")
    screen = pivot(at).map(lambda v: number(v) if not isinstance(v, str) or v == W
                           or v.replace(",", "").isdigit() else v)
    assert (screen == W).any().any(), "the view has withheld cells"
    name = "explorer_incidents_category_by_area"
    csv = pd.read_csv(io.BytesIO(made[f"{name}.csv"]()), dtype=str, keep_default_na=False)
    book = openpyxl.load_workbook(io.BytesIO(made[f"{name}.xlsx"]()))
    sheet = list(book["Pivot"].values)
    xlsx = pd.DataFrame(sheet[1:], columns=sheet[0])
    for download in (csv, xlsx):
        assert list(download.columns) == list(screen.columns)
        assert len(download) == len(screen)
        for column in screen.columns[1:]:
            assert [number(v) for v in download[column]] == list(screen[column]), column


def test_a_sensitive_view_below_partnership_level_is_audited(tmp_path, monkeypatch):
    from data_access import access as store

    url = f"sqlite:///{tmp_path / 'access.sqlite'}"
    monkeypatch.setenv("ACCESS_DATABASE_URL", url)
    explorer(fy="2025/26", ex_cols="none")  # incidents by LCSP: nothing sensitive
    explorer(fy="2025/26", ex_measure="vawg", ex_level="ward", ex_cols="none", lcsp="LCSP-N")
    engine = store.make_access_engine(url)
    try:
        log = store.load_audit(engine, action="view")
    finally:
        engine.dispose()
    lines = log[log["page"] == "explorer"]
    assert len(lines) == 1, log
    assert lines["detail"].iloc[0].startswith("VAWG by ward")
    assert lines["user_role"].iloc[0] == "analyst"


# --- the rule on the pivot, without the app -------------------------------------------------------

def _view(settings, frame, protection, filters=None, area_lcsps=None):
    from pages import explorer as page
    from pages.common.shell import Filters

    filters = filters or Filters(fy_period(2025), None, None, None, None, None, 2025, FY[1])
    categories = pd.DataFrame({
        "source": "recorded_crime", "category": ["burglary", "sexual_offences"],
        "label": ["Burglary", "Sexual offences"], "is_asb": False,
        "is_sensitive": [False, True], "sort_order": [1, 2]})
    data = page.ExplorerData(eq.PivotData(frame, frame["row"].nunique(),
                                          frame["column"].nunique() if "column" in frame else 0,
                                          500, 60),
                             None, None, "Partnership", area_lcsps, ("recorded_crime",))
    return page.compute_pivot(data, settings, filters, categories, protection)


def test_an_lcsp_managers_own_lcsp_is_shown_in_full_and_others_by_the_rule():
    from pages import explorer as page

    frame = pd.DataFrame({"row": ["W1", "W2", "W3"], "column": "sexual_offences",
                          "value": [3, 40, 5]})
    lcsps = pd.DataFrame({"code": ["W1", "W2", "W3"], "lcsp_code": ["L1", "L2", "L2"]})
    settings = page.ExplorerSettings("incidents", "count", "area", "category", "month", "ward",
                                     (), ())
    rule = DisclosureRule(detail_lcsps=frozenset({"L1"}))
    lcsp_of = dict(zip(lcsps["code"], lcsps["lcsp_code"]))
    # The rule's cells for this period withhold W3 and W2 (its complement).
    protection = page.Protection(rule, {SEXUAL_OFFENCES: frozenset({"W2", "W3"})}, lcsp_of)
    view = _view(settings, frame, protection, area_lcsps=lcsps)
    column = view.table.set_index("Code")["Sexual offences"]
    assert column.to_dict() == {"W1": 3, "W2": W, "W3": W, "": W}
    # Not a standard period: the other LCSP's wards are withheld whatever their size; their
    # own LCSP is still shown.
    view = _view(settings, frame, page.Protection(rule, None, lcsp_of), area_lcsps=lcsps)
    column = view.table.set_index("Code")["Sexual offences"]
    assert column.to_dict() == {"W1": 3, "W2": W, "W3": W, "": W}
    assert view.sensitive_below
    # A viewer without full detail, the same period: W1 is small, so withheld too.
    view = _view(settings, frame, page.Protection(DisclosureRule(), None, lcsp_of),
                 area_lcsps=lcsps)
    assert set(view.table["Sexual offences"]) == {W}


def test_a_sensitive_measure_split_below_its_figure_is_withheld():
    from pages import explorer as page

    frame = pd.DataFrame({"row": ["W1", "W1", "W2", "W2"],
                          "column": ["burglary", "sexual_offences"] * 2,
                          "value": [30, 12, 25, 20]})
    lcsps = pd.DataFrame({"code": ["W1", "W2"], "lcsp_code": ["L1", "L1"]})
    nothing_withheld = page.Protection(DisclosureRule(), {"n_domestic_abuse": frozenset()},
                                       {"W1": "L1", "W2": "L1"})
    # Domestic abuse by category is part of the rule's figure, not one it vets: withheld.
    settings = page.ExplorerSettings("domestic_abuse", "count", "area", "category", "month",
                                     "ward", (), ())
    view = _view(settings, frame, nothing_withheld, area_lcsps=lcsps)
    assert set(view.table["Burglary"]) == {W} and set(view.table["Total"]) == {W}
    # Incidents by category: burglary as counted; sexual offences by the rule (none withheld).
    settings = page.ExplorerSettings("incidents", "count", "area", "category", "month", "ward",
                                     (), ())
    view = _view(settings, frame, nothing_withheld, area_lcsps=lcsps)
    assert view.table["Burglary"].tolist() == [30, 25, 55]
    assert view.table["Sexual offences"].tolist() == [12, 20, 32]
    # The whole partnership is always shown, months or not.
    settings = page.ExplorerSettings("domestic_abuse", "count", "category", None, "month",
                                     "partnership", (), ())
    frame = pd.DataFrame({"row": ["burglary", "sexual_offences"], "value": [3, 2]})
    view = _view(settings, frame, page.Protection())
    assert view.table["Domestic abuse"].tolist() == [3, 2, 5] and not view.sensitive_below


def test_not_located_and_periods_follow_the_rule():
    from pages import explorer as page
    from pages.common.shell import Filters

    # LCSPs and "not located" for the whole partnership: the rule's tree has "not located" as
    # an area of its own, so it is withheld exactly when the rule says.
    frame = pd.DataFrame({"row": ["L1", "L2", ""], "value": [30, 5, 4]})
    settings = page.ExplorerSettings("vawg", "count", "area", None, "month", "lcsp", (), ())
    for cells, expected in (({"n_vawg": frozenset({"L2", ""})}, [30, W, W, W]),
                            ({"n_vawg": frozenset()}, [30, 5, 4, 39])):
        view = _view(settings, frame, page.Protection(DisclosureRule(), cells))
        assert view.table["VAWG"].tolist() == expected
    # Within an LCSP chosen in the sidebar, "not located" is no figure of the rule: withheld.
    frame = pd.DataFrame({"row": ["W1", ""], "value": [30, 9]})
    settings = page.ExplorerSettings("vawg", "count", "area", None, "month", "ward", (), ())
    in_l1 = Filters(fy_period(2025), None, "L1", None, "North", None, 2025, FY[1])
    view = _view(settings, frame, page.Protection(DisclosureRule(), {"n_vawg": frozenset()},
                                                  {"W1": "L1", "": "L1"}), in_l1)
    assert view.table["VAWG"].tolist() == [30, W, W]

    # By period in the sidebar's LCSP: the financial year as a column is the whole period (as
    # the rule vets it); quarters are parts of it, withheld, with the total that adds them up.
    frame = pd.DataFrame({"row": [pd.Timestamp(2025, 4, 1)], "value": [50]})
    settings = page.ExplorerSettings("vawg", "count", "period", None, "year", "lcsp", (), ())
    protection = page.Protection(DisclosureRule(), {"n_vawg": frozenset()})
    assert _view(settings, frame, protection, in_l1).table["VAWG"].tolist() == [50]
    frame = pd.DataFrame({"row": [pd.Timestamp(2025, m, 1) for m in (4, 7, 10)] +
                          [pd.Timestamp(2026, 1, 1)], "value": [10, 20, 12, 8]})
    settings = page.ExplorerSettings("vawg", "count", "period", None, "quarter", "lcsp", (), ())
    assert set(_view(settings, frame, protection, in_l1).table["VAWG"]) == {W}


def test_a_category_the_rule_withholds_is_withheld_even_if_not_sensitive_itself():
    """Should the rule withhold cells of a category that is not sensitive (a complement, so
    that a sensitive one cannot be worked out from the source's total), the explorer follows."""
    from pages import explorer as page

    frame = pd.DataFrame({"row": ["W1", "W1", "W2", "W2"],
                          "column": ["burglary", "sexual_offences"] * 2,
                          "value": [30, 4, 25, 20]})
    lcsps = pd.DataFrame({"code": ["W1", "W2"], "lcsp_code": ["L1", "L1"]})
    settings = page.ExplorerSettings("incidents", "count", "area", "category", "month", "ward",
                                     (), ())
    burglary = dq.category_key("recorded_crime", "burglary")
    protection = page.Protection(DisclosureRule(), {SEXUAL_OFFENCES: frozenset({"W1"}),
                                                    burglary: frozenset({"W1"})},
                                 {"W1": "L1", "W2": "L1"})
    table = _view(settings, frame, protection, area_lcsps=lcsps).table.set_index("Code")
    assert table.loc["W1", "Burglary"] == W and table.loc["W1", "Sexual offences"] == W
    assert table.loc["W2", "Burglary"] == 25 and table.loc["W2", "Sexual offences"] == 20
