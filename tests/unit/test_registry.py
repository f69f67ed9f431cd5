"""The KPI registry: the shipped YAML, validation that fails loudly, ratios, database KPIs."""

import copy
import math

import numpy as np
import pandas as pd
import pytest
import yaml

from kpis import registry as reg

BASE = {
    "boards": [{"id": "violence_reduction", "label": "Violence Reduction"}],
    "kpis": [{
        "id": "vwi_rate", "label": "Violence with injury per 1,000", "board": "violence_reduction",
        "unit": "rate_per_1000", "type": "ratio", "polarity": "lower_is_better",
        "frequency": "monthly", "data": "incidents",
        "measure": {"source": "recorded_crime", "categories": ["violence_with_injury"]},
        "denominator": "population",
        "target": {"rule": "change_from_baseline", "baseline_fy": "2024/25", "change": -0.05},
        "areas": ["partnership", "lcsp", "ward"],
    }],
}


def _doc(**changes):
    doc = copy.deepcopy(BASE)
    doc["kpis"][0].update(changes)
    return doc


def test_the_shipped_registry_loads_with_five_boards_of_at_least_five_kpis():
    r = reg.load_registry()
    assert [b.label for b in r.boards] == [
        "Violence Reduction", "Violence Against Women and Girls", "Safer Neighbourhoods",
        "Exploitation and Serious Organised Crime", "Domestic Abuse",
    ]
    for board in r.boards:
        assert len(r.board_kpis(board.id)) >= 5, board.id
    for kpi in r.kpis:
        if kpi.data == "incidents":
            assert kpi.measure is not None
            assert kpi.measure.count_column in ("n", *reg.FLAG_COLUMNS.values())


def test_a_valid_document_parses_into_frozen_dataclasses():
    r = reg.parse_registry(BASE)
    kpi = r.kpi("vwi_rate")
    assert kpi.measure == reg.Measure("recorded_crime", ("violence_with_injury",))
    assert kpi.scale == 1000 and not kpi.higher_is_better
    assert kpi.target.target_from_baseline(100) == pytest.approx(95)
    assert kpi.target.describe() == "5% below the 2024/25 average"
    with pytest.raises(AttributeError):
        kpi.label = "changed"  # frozen
    hash(r)  # hashable: safe as a cache key


@pytest.mark.parametrize("field, value", [
    ("type", "weighted"), ("unit", "furlongs"), ("polarity", "sideways"), ("data", "survey"),
    ("frequency", "hourly"), ("board", "no_such_board"),
])
def test_unknown_choices_fail_loudly_with_the_kpi_and_field(field, value):
    with pytest.raises(reg.RegistryError, match=rf"'vwi_rate'.*{field}.*{value}"):
        reg.parse_registry(_doc(**{field: value}))


def test_unknown_target_rule_fails():
    with pytest.raises(reg.RegistryError, match=r"'vwi_rate'.*target.rule.*percentile"):
        reg.parse_registry(_doc(target={"rule": "percentile", "value": 90}))


@pytest.mark.parametrize("target, words", [
    ({"rule": "change_from_baseline", "baseline_fy": "2024-25", "change": -0.05}, "baseline_fy"),
    ({"rule": "change_from_baseline", "baseline_fy": "2024/25", "change": "-5%"}, "change"),
    ({"rule": "absolute"}, "target.value"),
])
def test_bad_target_details_fail(target, words):
    with pytest.raises(reg.RegistryError, match=words):
        reg.parse_registry(_doc(target=target))


def test_unknown_flag_fails_so_no_column_name_comes_from_the_yaml():
    with pytest.raises(reg.RegistryError, match=r"measure.flag.*is_anything"):
        reg.parse_registry(_doc(measure={"source": "recorded_crime", "flag": "is_anything"}))


def test_incidents_kpi_needs_a_measure():
    doc = _doc()
    del doc["kpis"][0]["measure"]
    with pytest.raises(reg.RegistryError, match=r"'vwi_rate'.*measure"):
        reg.parse_registry(doc)


def test_a_rate_needs_a_population_denominator():
    doc = _doc()
    del doc["kpis"][0]["denominator"]
    with pytest.raises(reg.RegistryError, match="denominator"):
        reg.parse_registry(doc)


def test_unknown_fields_and_duplicates_fail():
    with pytest.raises(reg.RegistryError, match="unknown field"):
        reg.parse_registry(_doc(colour="red"))
    doc = _doc()
    doc["kpis"].append(copy.deepcopy(doc["kpis"][0]))
    with pytest.raises(reg.RegistryError, match="declared twice"):
        reg.parse_registry(doc)


def test_load_registry_reads_a_file(tmp_path):
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump(BASE))
    assert reg.load_registry(path).kpi("vwi_rate").label.startswith("Violence")
    path.write_text(yaml.safe_dump(_doc(type="weighted")))
    with pytest.raises(reg.RegistryError):
        reg.load_registry(path)


# --- ratios --------------------------------------------------------------------------------------

def test_safe_ratio_never_raises_and_never_returns_inf():
    assert reg.safe_ratio(3, 4, 100) == pytest.approx(75.0)
    assert math.isnan(reg.safe_ratio(1, 0))
    assert math.isnan(reg.safe_ratio(0, 0))
    assert math.isnan(reg.safe_ratio(None, 5))
    assert math.isnan(reg.safe_ratio(5, float("nan")))
    arr = reg.safe_ratio(np.array([1.0, 2.0, 3.0]), np.array([0.0, 4.0, np.nan]))
    assert np.isnan(arr[0]) and arr[1] == 0.5 and np.isnan(arr[2])
    s = reg.safe_ratio(pd.Series([10, 20], index=["a", "b"]), pd.Series([0, 1000], index=["a", "b"]), 1000)
    assert list(s.index) == ["a", "b"] and np.isnan(s["a"]) and s["b"] == 20.0
    assert not np.isinf(reg.safe_ratio(pd.Series([1.0]), pd.Series([0.0]))).any()


# --- boards and database KPIs ----------------------------------------------------------------------

def test_board_labels_map_to_board_ids():
    r = reg.load_registry()
    assert r.board_id_for("Violence Reduction") == "violence_reduction"
    assert r.board_id_for("violence reduction ") == "violence_reduction"
    assert r.board_id_for("VAWG") == "vawg"
    assert r.board_id_for("Domestic Abuse") == "domestic_abuse"
    assert r.board_id_for("safer_neighbourhoods") == "safer_neighbourhoods"
    assert r.board_id_for("Crime and the Community") is None


def _definitions(**row):
    base = {"kpi_id": "fgm_referrals", "label": "FGM referrals", "board": "Violence Against Women and Girls",
            "unit": "count", "polarity": "higher_is_better", "frequency": "monthly",
            "description": None, "source": "Health"}
    base.update(row)
    return pd.DataFrame([base])


def test_a_database_kpi_joins_its_board_by_label():
    r = reg.merge_definitions(reg.load_registry(), _definitions())
    kpi = r.kpi("fgm_referrals")
    assert kpi.board == "vawg" and kpi.data == "return" and kpi.origin == "database"
    assert kpi in r.board_kpis("vawg") and r.problems == ()


def test_a_database_kpi_with_a_new_board_label_creates_the_board():
    r = reg.merge_definitions(reg.load_registry(), _definitions(board="Reducing Reoffending"))
    assert r.boards[-1] == reg.Board("reducing_reoffending", "Reducing Reoffending")
    assert r.kpi("fgm_referrals").board == "reducing_reoffending"


def test_yaml_kpis_win_over_database_rows():
    base = reg.load_registry()
    r = reg.merge_definitions(base, _definitions(kpi_id="vwi_rate", label="something else"))
    assert r.kpi("vwi_rate") == base.kpi("vwi_rate") and len(r.kpis) == len(base.kpis)


def test_a_bad_database_row_is_skipped_and_reported():
    r = reg.merge_definitions(reg.load_registry(), _definitions(unit="furlongs"))
    with pytest.raises(KeyError):
        r.kpi("fgm_referrals")
    assert len(r.problems) == 1 and "furlongs" in r.problems[0]


def test_measure_specs_are_plain_tuples():
    specs = reg.measure_specs(reg.load_registry().kpis)
    assert ("knife_enabled", "recorded_crime", (), (), "is_weapon") in specs
    assert all(isinstance(s, tuple) for s in specs)
    hash(specs)
