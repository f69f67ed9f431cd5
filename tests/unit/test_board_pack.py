"""The board pack: PDF parsed back, PowerPoint read back, every KPI present, same input same bytes."""

from __future__ import annotations

import datetime as dt
import io
import os

import numpy as np
import pandas as pd
import pytest

from kpis import board_pack, disclosure
from kpis import priority_boards as pb
from kpis.registry import load_registry

REGISTRY = load_registry()
CITY = "E08000025"
BOARDS = ("violence_reduction", "vawg")


def _tiny_png(figures: list, width: int, height: int) -> list[bytes]:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width // 10, height // 10), (200, 200, 200)).save(out, format="PNG")
    return [out.getvalue()] * len(figures)


def _content(protected: dict[str, pb.ProtectedFigure] | None = None) -> board_pack.PackContent:
    """A two-board pack; ``protected`` KPIs (id -> figure) as the page gives them below
    partnership level."""
    protected = protected or {}
    rng = np.random.default_rng(3)
    months = pd.date_range("2023-04-01", periods=30, freq="MS")
    kpis = [k for b in BOARDS for k in REGISTRY.board_kpis(b)]
    frames = []
    for n, kpi in enumerate(kpis):
        values = rng.poisson(50, len(months)).astype(float)
        if n == 0:
            values[-1] = 200.0  # a special cause for the exception summary
        frames.append(pd.DataFrame({"kpi_id": kpi.id, "area_code": CITY, "period_start": months,
                                    "value": values, "numerator": values, "denominator": np.nan,
                                    "target": 45.0, "baseline": np.nan}))
    series = pd.concat(frames, ignore_index=True)
    summaries = [pb.protected_summary(k, CITY, protected[k.id]) if k.id in protected
                 else pb.summarise_kpi(k, series, area_code=CITY) for k in kpis]
    rows = tuple(r for r in pb.board_overview(REGISTRY, summaries) if r.board_id in BOARDS)
    actions = pd.DataFrame({
        "code": ["VR1(a)", "VR1(b)"], "title": ["Knife arches at events", "Youth outreach"],
        "owner": ["WMP", "Council"], "status": ["on_track", "complete"],
        "due_date": pd.to_datetime(["2025-06-30", "2025-12-31"]), "status_date": pd.NaT,
    })
    return board_pack.PackContent(
        title="Priority boards pack", partnership="Birmingham (synthetic sample)",
        period_label="2025/26 to 30 Sep 2025", area_label="Whole partnership",
        as_at=dt.date(2025, 9, 30), data_line="Data to 30 Sep 2025",
        rows=rows, actions={"violence_reduction": pb.action_summary(actions, as_at=dt.date(2025, 9, 30))},
        disclosure_note=disclosure.note() if protected else "",
    )


def test_pdf_opens_and_contains_each_kpi_the_exceptions_and_the_as_at_line():
    pypdf = pytest.importorskip("pypdf")
    content = _content()
    data = board_pack.build_pack(content, "pdf", renderer=_tiny_png)
    reader = pypdf.PdfReader(io.BytesIO(data))
    text = "\n".join(page.extract_text() for page in reader.pages)
    for summary in content.summaries:
        assert summary.kpi.label in text, summary.kpi.label
    assert "Exception summary" in text and "Data to 30 Sep 2025" in text
    assert "OVERDUE" in text and "Knife arches at events" in text
    # one page per KPI plus cover, board tables and actions pages, with the charts as images
    assert len(reader.pages) >= len(content.summaries) + 1 + 2 * len(content.rows)
    assert sum(len(page.images) for page in reader.pages) == len(board_pack.chart_images(content, _tiny_png))


def test_pptx_reads_back_with_each_kpi_on_its_own_slide():
    from pptx import Presentation

    content = _content()
    data = board_pack.build_pack(content, "pptx", renderer=_tiny_png)
    prs = Presentation(io.BytesIO(data))
    titles = [s.shapes.title.text for s in prs.slides if s.shapes.title is not None]
    for summary in content.summaries:
        assert summary.kpi.label in titles
    assert titles[0] == "Priority boards pack" and titles[1].startswith("Exception summary")
    texts = " ".join(shape.text_frame.text for s in prs.slides for shape in s.shapes
                     if shape.has_text_frame)
    assert "Data to 30 Sep 2025" in texts
    pictures = [sh for s in prs.slides for sh in s.shapes if sh.shape_type == 13]
    assert len(pictures) == len(content.summaries)
    assert prs.core_properties.modified == dt.datetime(2025, 9, 30)


@pytest.mark.parametrize("fmt", ["pdf", "pptx"])
def test_the_same_input_gives_the_same_bytes(fmt):
    first = board_pack.build_pack(_content(), fmt, renderer=_tiny_png)
    second = board_pack.build_pack(_content(), fmt, renderer=_tiny_png)
    assert first == second


def test_protected_kpis_have_no_chart_icons_or_monthly_value():
    withheld, shown = (k.id for k in REGISTRY.board_kpis("vawg")[:2])
    content = _content({withheld: pb.protected_figure(5, "count", "2025/26", True),
                        shown: pb.protected_figure(1234, "count", "2025/26", False)})
    assert content.withheld == {withheld, shown}
    images = board_pack.chart_images(content, _tiny_png)
    assert withheld not in images and shown not in images
    summary = next(s for s in content.summaries if s.kpi.id == withheld)
    assert board_pack.kpi_lines(summary, content) == [
        "2025/26: withheld.", pb.PROTECTED_NOTE, disclosure.note()]
    summary = next(s for s in content.summaries if s.kpi.id == shown)
    assert board_pack.kpi_lines(summary, content) == ["2025/26: 1,234.", pb.PROTECTED_NOTE]
    # never an exception (that would say something about the withheld series)
    assert withheld not in set(pb.exception_table(content.rows)["kpi_id"])


def test_a_protected_kpi_reads_back_as_the_page_shows_it():
    pypdf = pytest.importorskip("pypdf")
    from pptx import Presentation

    kpi = REGISTRY.kpi("sexual_offences")
    content = _content({kpi.id: pb.protected_figure(5, "count", "2025/26", True)})
    reader = pypdf.PdfReader(io.BytesIO(board_pack.build_pack(content, "pdf", renderer=_tiny_png)))
    pages = [page.extract_text() for page in reader.pages]
    own = [(text, page) for text, page in zip(pages, reader.pages)
           if f"\n{kpi.label}\n" in f"\n{text}\n" and "2025/26: withheld." in text]
    assert len(own) == 1 and not own[0][1].images  # its page: the label, no chart
    text = "\n".join(pages)
    assert f"{kpi.label}: withheld (2025/26)" in text
    assert "counts of sensitive crimes from 1 to 7" in text.replace("\n", " ")
    prs = Presentation(io.BytesIO(board_pack.build_pack(content, "pptx", renderer=_tiny_png)))
    slide = next(s for s in prs.slides if s.shapes.title is not None
                 and s.shapes.title.text == kpi.label)
    words = " ".join(sh.text_frame.text for sh in slide.shapes if sh.has_text_frame)
    assert "2025/26: withheld." in words and "Variation" not in words
    assert not [sh for sh in slide.shapes if sh.shape_type == 13]  # no picture


def test_a_pack_without_actions_has_no_owners_or_statuses():
    pypdf = pytest.importorskip("pypdf")
    from dataclasses import replace

    content = replace(_content(), show_actions=False)
    reader = pypdf.PdfReader(io.BytesIO(board_pack.build_pack(content, "pdf", renderer=_tiny_png)))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "outputs and actions" not in text and "Knife arches at events" not in text
    assert "WMP" not in text


def test_sensitive_kpis_and_the_tree_of_a_partner_return():
    sensitive = ("sexual_offences", "modern_slavery")
    assert pb.is_sensitive(REGISTRY.kpi("sexual_offences"), sensitive)
    assert pb.is_sensitive(REGISTRY.kpi("da_offences"), sensitive)
    assert pb.is_sensitive(REGISTRY.kpi("hate_crime"), sensitive)  # a sensitive flag too
    assert pb.is_sensitive(REGISTRY.kpi("nrm_referrals"), sensitive)  # victims, from a return
    assert not pb.is_sensitive(REGISTRY.kpi("knife_enabled"), sensitive)
    assert not pb.is_sensitive(REGISTRY.kpi("ocg_disruptions"), sensitive)

    kpi = REGISTRY.kpi("nrm_referrals")
    values = pd.DataFrame({"area_code": [CITY, "A", "B", "C"], "value": [40.0, 3.0, 20.0, 17.0],
                           "numerator": [40.0, 3.0, 20.0, 17.0]})
    tree = pb.return_area_tree(kpi, values, partnership_code=CITY, lcsp_codes=["A", "B", "C", "D"])
    assert tree["n"].tolist() == [40, 3, 20, 17, 0]  # an LCSP with no return counts 0
    assert tree["parent_code"].tolist()[1:] == [CITY] * 4 and pd.isna(tree["parent_code"].iloc[0])
    withheld = set(tree.loc[disclosure.DisclosureRule().protect_tree(tree).to_numpy(), "area_code"])
    assert withheld == {"A", "C"}  # the small one and the next smallest non-zero
    # a percentage without its numerator: the counts are unknown, nothing below partnership
    pct = REGISTRY.kpi("da_repeat_victims")
    assert pb.return_area_tree(pct, values.assign(numerator=np.nan), partnership_code=CITY,
                               lcsp_codes=["A", "B", "C"]) is None


def test_unknown_format_is_refused():
    with pytest.raises(ValueError):
        board_pack.build_pack(_content(), "docx", renderer=_tiny_png)


@pytest.mark.skipif(not os.path.exists("/usr/bin/chromium"), reason="needs Debian's chromium")
def test_kaleido_renders_a_real_chart_reproducibly():
    content = _content()
    summary = content.summaries[0]
    from kpis import board_charts

    figures = [board_charts.spc_figure(s, show_title=False) for s in content.summaries[:2]]
    first = board_pack.kaleido_pngs(figures, 600, 300)
    assert len(first) == 2 and all(png[:8] == b"\x89PNG\r\n\x1a\n" for png in first)
    assert board_pack.kaleido_png(figures[0], 600, 300) == first[0]
