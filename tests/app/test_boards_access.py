"""Priority boards by role and under the one disclosure rule, through app.py.

- A viewer sees the KPIs with their SPC charts, and no actions, meeting mode, packs or downloads;
  a board member sees them all.
- Below partnership level a sensitive KPI shows only its figure for the filters' period,
  withheld where :mod:`pages.common.protect` says (the same cells as every other page), and the
  board pack built by the page's own code path holds exactly that, never more.
- The LCSP comparison cannot be differenced against the partnership total, and an LCSP manager
  sees full detail for their own LCSP only.

The threshold is set per test (``CSP_DISCLOSURE_THRESHOLD``) from the sample's own counts, so
the rule really withholds LCSPs (the sample's LCSP counts are all above the default 7).
"""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from data_access import disclosure_queries as dq
from data_access import schema
from kpis import board_pack
from kpis import priority_boards as pb
from kpis.disclosure import WITHHELD
from kpis.registry import load_registry
from tests.app.markdown_text import as_shown

ROOT = Path(__file__).resolve().parents[2]
PAGE = "pages/boards.py"
REGISTRY = load_registry()
FY = {"fy": "2025/26"}
FY_MONTHS = (dt.date(2025, 4, 1), dt.date(2026, 3, 1))
SEXUAL = REGISTRY.kpi("sexual_offences")
SEXUAL_KEY = dq.category_key("recorded_crime", "sexual_offences")
LCSP_TABLE = "Against the rest of the city"
MEMBERS_ONLY = "Actions, meeting mode and board packs are for board members."


# --- helpers -------------------------------------------------------------------------------------

def open_boards(role: str, query_params: dict[str, str] | None = None, *,
                own_lcsps: list[str] | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    for key, value in (query_params or {}).items():
        at.query_params[key] = value
    at.session_state["auth_demo_role"] = role
    if own_lcsps is not None:
        at.session_state["auth_demo_lcsps"] = own_lcsps
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    """Metric cards by label as shown (labels from the data are escaped markdown)."""
    return {as_shown(m.label): m.value for m in at.metric}


def downloads(at: AppTest) -> list[str]:
    return [b.proto.label for b in at.get("download_button")]


def captions(at: AppTest) -> str:
    return " ".join(c.value for c in at.main.caption)


def lcsp_table(at: AppTest):
    return next(d.value for d in at.dataframe
                if LCSP_TABLE in d.value.columns and len(d.value) == 5)


def lcsp_counts(engine, category: str | None = None, column: str = "n") -> dict[str, int]:
    """Each LCSP's count of a category (or flag column) in 2025/26, from the aggregate."""
    w = schema.agg_month_ward
    where = [w.c.month_start >= FY_MONTHS[0], w.c.month_start <= FY_MONTHS[1],
             w.c.lcsp_code != ""]
    if category:
        where.append(w.c.category == category)
    statement = (sa.select(w.c.lcsp_code, sa.func.sum(w.c[column])).where(*where)
                 .group_by(w.c.lcsp_code))
    with engine.connect() as conn:
        return {code: int(n) for code, n in conn.execute(statement)}


def lcsp_names(engine) -> dict[str, str]:
    a = schema.areas
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(a.c.name, a.c.code).where(a.c.level == "lcsp")).all())


def _tiny_png(figures: list, width: int, height: int) -> list[bytes]:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width // 10, height // 10), (200, 200, 200)).save(out, format="PNG")
    return [out.getvalue()] * len(figures)


@pytest.fixture
def packs(monkeypatch):
    """The pack builders the page hands to its download buttons (file type -> callable), so
    a test builds the very bytes a click would; charts as tiny PNGs (no browser needed)."""
    from pages.common import ui

    made: dict[str, object] = {}
    original = ui.export_button

    def capture(label, data, file_name, **kwargs):
        drawn = original(label, data, file_name, **kwargs)
        if drawn and kwargs.get("capability") == "board_pack":
            made[file_name.rsplit(".", 1)[-1]] = data
        return drawn

    monkeypatch.setattr(ui, "export_button", capture)
    monkeypatch.setattr(board_pack, "kaleido_pngs", _tiny_png)
    return made


@pytest.fixture
def audited(monkeypatch):
    """Calls of protect.audit_sensitive_view made by the page: (page, what)."""
    from pages.common import protect

    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(protect, "audit_sensitive_view",
                        lambda page, what, filters: calls.append((page, what)))
    return calls


def pdf_pages(data: bytes) -> list:
    pypdf = pytest.importorskip("pypdf")
    return list(pypdf.PdfReader(io.BytesIO(data)).pages)


def has_number(text: str, value: int) -> bool:
    """True when ``value`` appears in ``text`` as a number of its own (1234 or 1,234)."""
    return bool(re.search(rf"(?<![\d,.]){value:,}(?![\d,])|(?<![\d,.]){value}(?![\d,])", text))


# --- roles ----------------------------------------------------------------------------------------

def test_a_viewer_sees_kpis_with_spc_but_no_actions_meeting_packs_or_downloads():
    at = open_boards("viewer")
    assert downloads(at) == []
    assert MEMBERS_ONLY in captions(at)
    cards = metrics(at)
    assert not {k.label for k in REGISTRY.kpis if k.data == "actions"} & set(cards)
    assert {k.label for k in REGISTRY.kpis if k.data != "actions"} == set(cards)
    (view,) = at.get("segmented_control")
    assert [o.content for o in view.proto.options] == ["Boards overview", "Board detail"]
    assert "Board pack" not in [as_shown(s.value) for s in at.subheader]

    at = open_boards("viewer", {"board_view": "detail", "board": "vawg"})
    heads = [as_shown(s.value) for s in at.subheader]
    assert "Outputs and actions" not in heads and "Board pack" not in heads
    assert not any("Overdue" in d.value.columns or "Owner" in d.value.columns for d in at.dataframe)
    assert len(at.get("plotly_chart")) >= 3  # SPC charts and comparisons stay
    assert downloads(at) == []

    # A meeting-mode link falls back to the overview for a viewer.
    at = open_boards("viewer", {"board_view": "meeting", "board": "all"})
    assert at.query_params["board_view"] == "overview"
    assert not any("Slide 1 of" in m.value for m in at.markdown)


def test_a_board_member_sees_actions_meeting_mode_and_packs():
    at = open_boards("board_member", {"board_view": "detail", "board": "vawg"})
    assert MEMBERS_ONLY not in captions(at)
    assert "Outputs and actions" in [s.value for s in at.subheader]
    assert any("Overdue" in d.value.columns and "Owner" in d.value.columns for d in at.dataframe)
    assert {"Download board pack (PDF)", "Download board pack (PowerPoint)",
            "Download CSV"} <= set(downloads(at))
    (view,) = at.get("segmented_control")
    assert "Meeting mode" in [o.content for o in view.proto.options]
    at = open_boards("board_member", {"board_view": "meeting", "board": "all"})
    assert "Slide 1 of" in " ".join(m.value for m in at.markdown)


# --- disclosure -------------------------------------------------------------------------------------

def test_a_sensitive_kpi_below_partnership_is_withheld_on_the_page_and_in_its_pack(
        sample_engine, monkeypatch, packs, audited):
    counts = lcsp_counts(sample_engine, "sexual_offences")
    smallest = min(counts, key=counts.get)
    threshold = counts[smallest] + 1  # the smallest LCSP is a primary cell; the note's number differs
    monkeypatch.setenv("CSP_DISCLOSURE_THRESHOLD", str(threshold))
    expected = dq.load_withheld(sample_engine, *FY_MONTHS, threshold)
    assert smallest in expected[SEXUAL_KEY]

    at = open_boards("board_member", {**FY, "lcsp": smallest, "board_view": "detail",
                                      "board": "vawg"})
    shown = metrics(at)
    assert shown[SEXUAL.label] == WITHHELD
    assert "counts of sensitive crimes from 1 to" in captions(at)
    # no monthly chart for a protected KPI: the page's charts are the other KPIs' and the tables'
    assert any("whole partnership" in i.value for i in at.info)
    assert any(p == "boards" and w.startswith("Board detail") and SEXUAL.label in w
               for p, w in audited)

    # The pack, built as a click would build it, says what the page says and no more.
    assert {"pdf", "pptx"} <= set(packs)
    pages = pdf_pages(packs["pdf"]())
    texts = [page.extract_text() for page in pages]
    everything = "\n".join(texts)
    # in the detail view only protected KPIs have a figure card: each reads the same in the pack
    assert shown and all(f"{label}: {value} (" in everything for label, value in shown.items())
    own = [(t, p) for t, p in zip(texts, pages) if f"\n{SEXUAL.label}\n" in f"\n{t}\n"
           and "2025/26: withheld." in t]
    assert len(own) == 1
    assert not own[0][1].images
    assert not has_number(own[0][0], counts[smallest])

    from pptx import Presentation

    prs = Presentation(io.BytesIO(packs["pptx"]()))
    slide = next(s for s in prs.slides
                 if s.shapes.title is not None and s.shapes.title.text == SEXUAL.label)
    words = " ".join(sh.text_frame.text for sh in slide.shapes if sh.has_text_frame)
    assert "2025/26: withheld." in words and not has_number(words, counts[smallest])
    assert not [sh for sh in slide.shapes if sh.shape_type == 13]  # no chart picture
    table_cells = " | ".join(cell.text for s in prs.slides for sh in s.shapes if sh.has_table
                             for row in sh.table.rows for cell in row.cells)
    assert f"{WITHHELD} (2025/26)" in table_cells


def test_months_that_are_not_a_standard_period_withhold_every_sensitive_kpi(sample_engine):
    counts = lcsp_counts(sample_engine, "sexual_offences")
    largest = max(counts, key=counts.get)  # far above 7: withheld only for the period
    at = open_boards("board_member", {"from": "2025-05", "to": "2025-09", "lcsp": largest})
    shown = metrics(at)
    for kpi in REGISTRY.kpis:
        if kpi.data == "incidents" and kpi.exists_for("lcsp") and pb.is_sensitive(
                kpi, ("sexual_offences", "modern_slavery")):
            assert shown[kpi.label] == WITHHELD, kpi.label
    assert shown["Weapon-enabled offences"] != WITHHELD  # not sensitive: its monthly value


def test_the_lcsp_comparison_cannot_be_differenced_from_the_partnership_total(
        sample_engine, monkeypatch, audited):
    counts = lcsp_counts(sample_engine, "sexual_offences")
    threshold = min(counts.values())  # exactly one small LCSP: the rule must add a complement
    monkeypatch.setenv("CSP_DISCLOSURE_THRESHOLD", str(threshold))
    at = open_boards("board_member", {**FY, "board_view": "detail", "board": "vawg"})
    at.selectbox(key="boards_compare_kpi").set_value(SEXUAL.id).run()
    assert not at.exception
    table = lcsp_table(at)
    codes = lcsp_names(sample_engine)
    withheld = [codes[a] for a, n in zip(table["Area"], table["Count"]) if n == WITHHELD]
    shown = {codes[a]: int(n) for a, n in zip(table["Area"], table["Count"]) if n != WITHHELD}
    assert len(withheld) >= 2
    hidden = sum(counts[c] for c in withheld)
    total = sum(counts.values())  # the partnership figure, always shown
    assert total - sum(shown.values()) == hidden > threshold
    assert all(shown[c] == counts[c] for c in shown)
    # the same cells as the one rule computes for every page
    assert set(withheld) == {c for c in counts
                             if c in dq.load_withheld(sample_engine, *FY_MONTHS, threshold)[SEXUAL_KEY]}
    rows = table[table["Count"] == WITHHELD]
    assert rows[["Per 1,000 residents", "95% CI low", "95% CI high"]].isna().all().all()
    assert "counts of sensitive crimes from 1 to" in captions(at)
    assert any(p == "boards" and SEXUAL.label in w and "LCSP" in w for p, w in audited)


def test_the_ward_drill_down_withholds_by_the_rule(sample_engine, monkeypatch):
    kpi = REGISTRY.kpi("vawg_flagged")
    lcsp = min(lcsp_counts(sample_engine, column="n_vawg"), key=lcsp_counts(
        sample_engine, column="n_vawg").get)
    w = schema.agg_month_ward
    with sample_engine.connect() as conn:
        wards = {code: int(n) for code, n in conn.execute(
            sa.select(w.c.ward_code, sa.func.sum(w.c.n_vawg))
            .where(w.c.lcsp_code == lcsp, w.c.month_start >= FY_MONTHS[0],
                   w.c.month_start <= FY_MONTHS[1]).group_by(w.c.ward_code))}
        names = dict(conn.execute(sa.select(schema.areas.c.name, schema.areas.c.code)
                                  .where(schema.areas.c.level == "ward")).all())
    threshold = min(wards.values())  # exactly the smallest ward is small: a complement is needed
    assert threshold <= 100
    monkeypatch.setenv("CSP_DISCLOSURE_THRESHOLD", str(threshold))
    at = open_boards("board_member", {**FY, "board_view": "detail", "board": kpi.board})
    at.selectbox(key="boards_ward_kpi").set_value(kpi.id).run()
    at.selectbox(key="boards_ward_lcsp").set_value(lcsp).run()
    assert not at.exception
    table = next(d.value for d in at.dataframe if LCSP_TABLE in d.value.columns
                 and set(d.value["Area"]) <= set(names))
    cells = {names[a]: n for a, n in zip(table["Area"], table["Count"])}
    assert set(cells) == set(wards)
    hidden = [c for c, n in cells.items() if n == WITHHELD]
    assert len(hidden) >= 2 and sum(wards[c] for c in hidden) > threshold
    assert all(int(n) == wards[c] for c, n in cells.items() if n != WITHHELD)
    expected = dq.load_withheld(sample_engine, *FY_MONTHS, threshold)["n_vawg"]
    assert set(hidden) == expected & set(wards)


def test_an_lcsp_manager_sees_full_detail_for_their_own_lcsp_only(sample_engine, monkeypatch):
    hate = REGISTRY.kpi("hate_crime")
    counts = lcsp_counts(sample_engine, column="n_hate")
    order = sorted(counts, key=counts.get)
    own, other, third = order[0], order[1], order[2]
    assert counts[third] <= 100, "the sample's hate crime counts no longer fit the test"
    monkeypatch.setenv("CSP_DISCLOSURE_THRESHOLD", str(counts[third]))  # three small LCSPs

    # As a board member their own LCSP is withheld like any other.
    at = open_boards("board_member", {**FY, "lcsp": own})
    assert metrics(at)[hate.label] == WITHHELD

    at = open_boards("lcsp_manager", {**FY, "lcsp": own}, own_lcsps=[own])
    card = metrics(at)[hate.label]
    assert card != WITHHELD
    # full detail: the latest month's figure with its sparkline and icons, not a period figure
    w = schema.agg_month_ward
    with sample_engine.connect() as conn:
        march = conn.execute(sa.select(sa.func.sum(w.c.n_hate)).where(
            w.c.lcsp_code == own, w.c.month_start == FY_MONTHS[1])).scalar_one()
    assert int(card.replace(",", "")) == march
    assert "for the whole partnership only" not in captions(at)  # nothing protected here
    at = open_boards("lcsp_manager", {**FY, "lcsp": own, "board_view": "detail",
                                      "board": hate.board}, own_lcsps=[own])
    assert hate.label in [s.value for s in at.subheader]
    assert not any("whole partnership" in i.value for i in at.info)  # its chart is drawn

    at = open_boards("lcsp_manager", {**FY, "lcsp": other}, own_lcsps=[own])
    assert metrics(at)[hate.label] == WITHHELD

    at = open_boards("lcsp_manager", {**FY, "board_view": "detail", "board": hate.board},
                     own_lcsps=[own])
    at.selectbox(key="boards_compare_kpi").set_value(hate.id).run()
    table = lcsp_table(at)
    codes = lcsp_names(sample_engine)
    by_code = {codes[a]: n for a, n in zip(table["Area"], table["Count"])}
    assert int(by_code[own]) == counts[own]
    assert by_code[other] == WITHHELD
    hidden = [c for c, n in by_code.items() if n == WITHHELD]
    assert own not in hidden and len(hidden) >= 2
    assert sum(counts[c] for c in hidden) > counts[third]


def test_a_sensitive_partner_return_is_protected_on_its_own_tree(sample_engine):
    kpi = REGISTRY.kpi("nrm_referrals")
    at = open_boards("board_member", {**FY, "board_view": "detail", "board": "exploitation_soc"})
    at.selectbox(key="boards_compare_kpi").set_value(kpi.id).run()
    assert not at.exception
    table = next(d.value for d in at.dataframe if "Latest value" in d.value.columns)
    v = schema.kpi_values
    with sample_engine.connect() as conn:
        rows = dict(conn.execute(sa.select(v.c.area_code, v.c.value).where(
            v.c.kpi_id == kpi.id, v.c.period_start == dt.date(2026, 3, 1))).all())
    codes = lcsp_names(sample_engine)
    cells = {codes[a]: value for a, value in zip(table["Area"], table["Latest value"])}
    assert set(cells) == set(codes.values())
    hidden = [c for c, value in cells.items() if value == WITHHELD]
    for code, value in cells.items():
        if value != WITHHELD:
            assert float(value) == rows[code] and (rows[code] == 0 or rows[code] > 7)
    assert len(hidden) != 1
    assert not hidden or sum(rows[c] for c in hidden) > 7
    assert any(1 <= rows[c] <= 7 for c in codes.values()) == bool(hidden)
