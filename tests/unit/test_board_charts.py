"""Board figures: traces say what they are (not only their colour), tables carry the numbers."""

import numpy as np
import pandas as pd

from kpis import board_charts
from kpis import priority_boards as pb
from kpis.registry import load_registry

REGISTRY = load_registry()
FLAT = [9.0, 11.0] * 10


def _summary(values, target=np.nan, kpi_id="knife_enabled"):
    months = pd.date_range("2023-04-01", periods=len(values), freq="MS")
    series = pd.DataFrame({"kpi_id": kpi_id, "area_code": "C", "period_start": months,
                           "value": values, "numerator": np.nan, "denominator": np.nan,
                           "target": target, "baseline": np.nan})
    return pb.summarise_kpi(REGISTRY.kpi(kpi_id), series, area_code="C")


def test_spc_figure_has_limits_target_and_named_special_cause_points():
    fig = board_charts.spc_figure(_summary(FLAT + [20.0], target=10.0))
    names = [t.name for t in fig.data]
    assert {"Value", "Mean", "Process limits", "Target", "Special cause: concerning"} <= set(names)
    concerning = next(t for t in fig.data if t.name == "Special cause: concerning")
    assert concerning.marker.symbol == "diamond" and list(concerning.y) == [20.0]
    limits = next(t for t in fig.data if t.name == "Process limits")
    assert limits.line.dash == "dash"


def test_spc_figure_marks_a_rebase_and_handles_no_data():
    months = pd.date_range("2023-04-01", periods=28, freq="MS")
    series = pd.DataFrame({"kpi_id": "knife_enabled", "area_code": "C", "period_start": months,
                           "value": FLAT[:14] + [v + 10 for v in FLAT[:14]], "numerator": np.nan,
                           "denominator": np.nan, "target": np.nan, "baseline": np.nan})
    summary = pb.summarise_kpi(REGISTRY.kpi("knife_enabled"), series, area_code="C",
                               rebase_at=[months[14]])
    fig = board_charts.spc_figure(summary)
    assert len(fig.layout.shapes) == 1
    empty = pb.summarise_kpi(REGISTRY.kpi("knife_enabled"), pb.empty_series(), area_code="C")
    assert board_charts.spc_figure(empty).layout.annotations[0].text == "No data for this period"
    assert board_charts.spc_table(empty).empty


def test_spc_table_matches_the_chart():
    summary = _summary(FLAT + [20.0], target=10.0)
    table = board_charts.spc_table(summary)
    assert list(table.columns) == ["Month", "Value", "Mean", "Lower limit", "Upper limit",
                                   "Target", "Signal"]
    assert table["Month"].iloc[0] == "Apr 2023" and table["Value"].iloc[-1] == 20.0
    assert table["Signal"].iloc[-1].startswith("concerning (high; rule: outside")
    assert (table["Target"] == 10.0).all()


def test_comparison_figure_uses_shapes_and_words_per_verdict():
    frame = pb.area_comparison(pd.DataFrame({
        "area_code": ["A", "B", "C"], "area_name": ["Alpha", "Beta", "Gamma"],
        "n": [300, 100, 5], "population": [100_000.0, 100_000.0, 2_000.0]}))
    fig = board_charts.comparison_figure(frame, title="t")
    by_name = {t.name: t for t in fig.data}
    assert by_name["Significantly higher than the rest"].marker.symbol == "triangle-up"
    assert by_name["Significantly lower than the rest"].marker.symbol == "triangle-down"
    assert by_name["Not significantly different"].marker.symbol == "circle"
    assert fig.layout.annotations[0].text.startswith("City average")
    assert list(fig.layout.yaxis.categoryarray)[-1] == "Alpha"  # highest rate at the top
    assert board_charts.comparison_figure(frame.iloc[0:0], title="t").layout.annotations
