"""The KPI registry: every measure the priority boards track, declared as data and validated.

``kpis/registry.yaml`` declares boards and KPIs (see the comment at its top for the fields). This
module loads it into frozen dataclasses and refuses anything it does not understand: an unknown
type, unit, polarity, data kind, target rule or incident flag stops the load with the KPI id and
the field, so a typo never turns into a silently empty card.

KPIs a partner adds later live in the database (``kpi_definitions`` plus ``kpi_values``):
:func:`merge_definitions` puts them on their board, creating the board when its label is new, so
a new KPI appears without a code change. A bad database row is skipped and reported in
``Registry.problems`` rather than taking every board down with it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from kpis.periods import parse_fy

REGISTRY_PATH = Path(__file__).resolve().parent / "registry.yaml"

UNITS = ("count", "rate_per_1000", "percentage", "gbp", "days")
TYPES = ("simple", "ratio", "derived", "cumulative")
POLARITIES = ("higher_is_better", "lower_is_better")
FREQUENCIES = ("monthly", "quarterly")
DATA_KINDS = ("incidents", "return", "actions")
TARGET_RULES = ("change_from_baseline", "absolute")
AREA_LEVELS = ("partnership", "lcsp", "ward")
DENOMINATORS = ("population",)

# Incident flags a measure may count, and the aggregate-table column that holds each count. This
# whitelist is what lets data_access build SQL from the registry without ever naming a column
# that came from user text.
FLAG_COLUMNS = {
    "is_domestic_abuse": "n_domestic_abuse",
    "is_vawg": "n_vawg",
    "is_alcohol": "n_alcohol",
    "is_weapon": "n_weapon",
    "is_hate": "n_hate",
    "is_repeat": "n_repeat",
}

# Flags whose counts can point at victims in small areas (as kpis.disclosure treats them); a
# category is sensitive when the categories table says so.
SENSITIVE_FLAGS = ("is_domestic_abuse", "is_vawg", "is_hate")

# A value is numerator / denominator x scale: rates are per 1,000 residents, shares in per cent.
UNIT_SCALE = {"count": 1.0, "rate_per_1000": 1000.0, "percentage": 100.0, "gbp": 1.0, "days": 1.0}

_KPI_FIELDS = {
    "id", "label", "description", "board", "unit", "type", "polarity", "frequency", "source",
    "data", "measure", "denominator", "numerator", "target", "areas",
}
_MEASURE_FIELDS = {"source", "categories", "subcategories", "flag"}
_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class RegistryError(ValueError):
    """The registry (YAML or a database definition) says something this module cannot honour."""


@dataclass(frozen=True)
class Board:
    """A thematic priority board."""

    id: str
    label: str


@dataclass(frozen=True)
class Measure:
    """Which incidents a KPI counts: a source, optionally narrowed by categories/subcategories/flag."""

    source: str
    categories: tuple[str, ...] = ()
    subcategories: tuple[str, ...] = ()
    flag: str | None = None

    @property
    def count_column(self) -> str:
        """Aggregate column to sum: ``n``, or the flag's ``n_<flag>`` column."""
        return FLAG_COLUMNS[self.flag] if self.flag else "n"

    def as_key(self) -> tuple:
        """A plain, hashable tuple (for cached query parameters)."""
        return (self.source, self.categories, self.subcategories, self.flag or "")


@dataclass(frozen=True)
class TargetRule:
    """How a KPI's target is set: a change from a baseline year's average, or an absolute value."""

    rule: str
    baseline_fy: str | None = None
    change: float | None = None
    value: float | None = None

    def target_from_baseline(self, baseline: float | None) -> float:
        """The target given the baseline-year average (NaN when the baseline is unknown)."""
        if self.rule == "absolute":
            return float(self.value)
        if baseline is None or not math.isfinite(baseline):
            return math.nan
        return float(baseline) * (1.0 + float(self.change))

    def describe(self) -> str:
        """Plain-English statement of the rule, for tables and the board pack."""
        if self.rule == "absolute":
            return f"target {self.value:g}"
        direction = "below" if self.change < 0 else "above"
        return f"{abs(self.change):.0%} {direction} the {self.baseline_fy} average"


@dataclass(frozen=True)
class Kpi:
    """One key performance indicator."""

    id: str
    label: str
    board: str  # a Board.id
    unit: str
    type: str
    polarity: str
    frequency: str
    data: str
    description: str = ""
    source: str = ""
    measure: Measure | None = None
    denominator: str | None = None
    target: TargetRule | None = None
    areas: tuple[str, ...] = ("partnership",)
    origin: str = "registry"  # registry | database

    @property
    def higher_is_better(self) -> bool:
        """True when a rise is good news."""
        return self.polarity == "higher_is_better"

    @property
    def scale(self) -> float:
        """Multiplier from numerator/denominator to the displayed value."""
        return UNIT_SCALE[self.unit]

    def exists_for(self, level: str) -> bool:
        """Whether the KPI is reported at an area level (partnership, lcsp, ward)."""
        return level in self.areas

    def is_sensitive(self, sensitive_categories: Iterable[str] = ()) -> bool:
        """Whether small counts of this KPI are withheld below partnership level."""
        if self.measure is None:
            return False
        if self.measure.flag in SENSITIVE_FLAGS:
            return True
        return bool(set(self.measure.categories) & set(sensitive_categories))


@dataclass(frozen=True)
class Registry:
    """Boards and their KPIs, in declaration order."""

    boards: tuple[Board, ...]
    kpis: tuple[Kpi, ...]
    problems: tuple[str, ...] = field(default=())

    def board(self, board_id: str) -> Board:
        """The board with this id (KeyError when unknown)."""
        for b in self.boards:
            if b.id == board_id:
                return b
        raise KeyError(board_id)

    def kpi(self, kpi_id: str) -> Kpi:
        """The KPI with this id (KeyError when unknown)."""
        for k in self.kpis:
            if k.id == kpi_id:
                return k
        raise KeyError(kpi_id)

    def board_kpis(self, board_id: str) -> tuple[Kpi, ...]:
        """A board's KPIs in declaration order."""
        return tuple(k for k in self.kpis if k.board == board_id)

    @cached_property
    def _board_lookup(self) -> dict[str, str]:
        return board_lookup(self.boards)

    def board_id_for(self, text: str) -> str | None:
        """Board id for a board id or label as written in the actions/definitions tables."""
        return self._board_lookup.get(_norm(text))


# --- ratios --------------------------------------------------------------------------------

def safe_ratio(numerator: Any, denominator: Any, scale: float = 1.0) -> Any:
    """numerator / denominator x scale; NaN (never inf, never an exception) where the denominator is 0 or missing.

    Works on scalars, numpy arrays and pandas Series (a Series in gives a Series out).
    """
    index = next((x.index for x in (numerator, denominator) if isinstance(x, pd.Series)), None)
    num = _float_array(numerator)
    den = _float_array(denominator)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    ok = np.isfinite(num) & np.isfinite(den) & (den != 0)
    np.divide(num * scale, den, out=out, where=ok)
    if index is not None:
        return pd.Series(out, index=index)
    if out.ndim == 0:
        return float(out)
    return out


def _float_array(value: Any) -> np.ndarray:
    if value is None:
        return np.array(np.nan)
    if isinstance(value, pd.Series):
        return pd.to_numeric(value, errors="coerce").astype("float64").to_numpy()
    try:
        return np.asarray(value, dtype="float64")
    except (TypeError, ValueError):
        return np.asarray(pd.to_numeric(pd.Series(np.atleast_1d(value)), errors="coerce"),
                          dtype="float64").reshape(np.shape(value))


# --- loading and validation ----------------------------------------------------------------

def _norm(text: Any) -> str:
    return re.sub(r"[^a-z0-9]+", " ", str(text).lower()).strip()


def board_lookup(boards: Iterable[Board]) -> dict[str, str]:
    """Normalised board id and label -> board id ("Violence Reduction" -> violence_reduction)."""
    out: dict[str, str] = {}
    for b in boards:
        out[_norm(b.id)] = b.id
        out[_norm(b.label)] = b.id
    # "VAWG" and "Violence Against Women and Girls (VAWG)" both appear in partnership papers.
    for b in boards:
        acronym = "".join(w[0] for w in _norm(b.label).split() if w not in ("and", "of", "the"))
        out.setdefault(acronym, b.id)
    return out


def _slug(label: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", str(label).lower()).strip("_")
    return (slug or "board")[:64]


def _choice(kpi_id: str, name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise RegistryError(
            f"KPI {kpi_id!r}: {name} {value!r} is not one of {', '.join(allowed)}"
        )
    return value


def _text_list(kpi_id: str, name: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        raise RegistryError(f"KPI {kpi_id!r}: {name} must be a list of names, not {value!r}")
    return tuple(value)


def _measure(kpi_id: str, raw: Any) -> Measure:
    if not isinstance(raw, Mapping):
        raise RegistryError(f"KPI {kpi_id!r}: measure must be a mapping with a source")
    unknown = set(raw) - _MEASURE_FIELDS
    if unknown:
        raise RegistryError(f"KPI {kpi_id!r}: measure has unknown field(s) {sorted(unknown)}")
    source = raw.get("source")
    if not isinstance(source, str) or not source:
        raise RegistryError(f"KPI {kpi_id!r}: measure.source is required")
    flag = raw.get("flag")
    if flag is not None and flag not in FLAG_COLUMNS:
        raise RegistryError(
            f"KPI {kpi_id!r}: measure.flag {flag!r} is not one of {', '.join(FLAG_COLUMNS)}"
        )
    return Measure(
        source=source,
        categories=_text_list(kpi_id, "measure.categories", raw.get("categories")),
        subcategories=_text_list(kpi_id, "measure.subcategories", raw.get("subcategories")),
        flag=flag,
    )


def _target(kpi_id: str, raw: Any) -> TargetRule | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise RegistryError(f"KPI {kpi_id!r}: target must be a mapping with a rule")
    rule = _choice(kpi_id, "target.rule", raw.get("rule"), TARGET_RULES)
    if rule == "absolute":
        value = raw.get("value")
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise RegistryError(f"KPI {kpi_id!r}: target.value must be a number")
        return TargetRule(rule=rule, value=float(value))
    baseline_fy = raw.get("baseline_fy")
    try:
        parse_fy(str(baseline_fy))
    except ValueError as exc:
        raise RegistryError(f"KPI {kpi_id!r}: target.baseline_fy: {exc}") from None
    change = raw.get("change")
    if not isinstance(change, (int, float)) or isinstance(change, bool) or not -1 < change < 10:
        raise RegistryError(
            f"KPI {kpi_id!r}: target.change must be a fraction such as -0.05, not {change!r}"
        )
    return TargetRule(rule=rule, baseline_fy=str(baseline_fy), change=float(change))


def parse_kpi(raw: Mapping[str, Any], board_ids: Iterable[str]) -> Kpi:
    """Validate one KPI mapping from the YAML; RegistryError names the KPI and the field."""
    kpi_id = raw.get("id")
    if not isinstance(kpi_id, str) or not _ID.match(kpi_id):
        raise RegistryError(f"KPI id {kpi_id!r} must be lower_snake_case, at most 64 characters")
    unknown = set(raw) - _KPI_FIELDS
    if unknown:
        raise RegistryError(f"KPI {kpi_id!r}: unknown field(s) {sorted(unknown)}")
    label = raw.get("label")
    if not isinstance(label, str) or not label.strip():
        raise RegistryError(f"KPI {kpi_id!r}: label is required")
    board = _choice(kpi_id, "board", raw.get("board"), tuple(board_ids))
    unit = _choice(kpi_id, "unit", raw.get("unit"), UNITS)
    kind = _choice(kpi_id, "type", raw.get("type"), TYPES)
    polarity = _choice(kpi_id, "polarity", raw.get("polarity"), POLARITIES)
    frequency = _choice(kpi_id, "frequency", raw.get("frequency", "monthly"), FREQUENCIES)
    data = _choice(kpi_id, "data", raw.get("data"), DATA_KINDS)
    measure = _measure(kpi_id, raw["measure"]) if raw.get("measure") is not None else None
    if data == "incidents" and measure is None:
        raise RegistryError(f"KPI {kpi_id!r}: data: incidents needs a measure")
    if data != "incidents" and measure is not None:
        raise RegistryError(f"KPI {kpi_id!r}: a measure only applies to data: incidents")
    denominator = raw.get("denominator")
    if denominator is not None:
        _choice(kpi_id, "denominator", denominator, DENOMINATORS)
    if data == "incidents" and unit == "rate_per_1000" and denominator is None:
        raise RegistryError(f"KPI {kpi_id!r}: a rate per 1,000 needs denominator: population")
    if data == "incidents" and denominator is not None and kind != "ratio":
        raise RegistryError(f"KPI {kpi_id!r}: a KPI with a denominator must have type: ratio")
    areas = _text_list(kpi_id, "areas", raw.get("areas", ["partnership"]))
    for level in areas:
        _choice(kpi_id, "areas", level, AREA_LEVELS)
    return Kpi(
        id=kpi_id, label=label.strip(), board=board, unit=unit, type=kind, polarity=polarity,
        frequency=frequency, data=data, description=str(raw.get("description") or "").strip(),
        source=str(raw.get("source") or "").strip(), measure=measure, denominator=denominator,
        target=_target(kpi_id, raw.get("target")), areas=areas or ("partnership",),
    )


def parse_registry(document: Mapping[str, Any]) -> Registry:
    """Validate a whole registry document (the parsed YAML)."""
    if not isinstance(document, Mapping):
        raise RegistryError("the registry must be a mapping with boards and kpis")
    boards = []
    for raw in document.get("boards") or []:
        if not isinstance(raw, Mapping) or not _ID.match(str(raw.get("id", ""))) or not raw.get("label"):
            raise RegistryError(f"board {raw!r} needs a lower_snake_case id and a label")
        boards.append(Board(id=raw["id"], label=str(raw["label"]).strip()))
    if not boards:
        raise RegistryError("the registry declares no boards")
    if len({b.id for b in boards}) != len(boards):
        raise RegistryError("board ids must be unique")
    kpis = [parse_kpi(raw, [b.id for b in boards]) for raw in document.get("kpis") or []]
    seen: set[str] = set()
    for k in kpis:
        if k.id in seen:
            raise RegistryError(f"KPI {k.id!r} is declared twice")
        seen.add(k.id)
    return Registry(boards=tuple(boards), kpis=tuple(kpis))


@lru_cache(maxsize=4)
def _load_cached(path: str, mtime_ns: int) -> Registry:
    del mtime_ns  # part of the cache key: an edited file is read again
    with open(path, encoding="utf-8") as handle:
        document = yaml.safe_load(handle)
    return parse_registry(document)


def load_registry(path: str | Path | None = None) -> Registry:
    """Load and validate ``registry.yaml`` (the shipped one by default)."""
    path = Path(path) if path else REGISTRY_PATH
    return _load_cached(str(path), path.stat().st_mtime_ns)


# --- KPIs defined in the database ------------------------------------------------------------

def merge_definitions(registry: Registry, definitions: pd.DataFrame) -> Registry:
    """Add KPIs found in the ``kpi_definitions`` table that the YAML does not declare.

    Such KPIs are partner returns (their values are in ``kpi_values``). The board column may hold
    a board id or label; a label the registry does not know becomes a new board, so a partnership
    with different boards needs no code change. Rows for KPIs the YAML already declares are left
    to the YAML (it carries the measure and target rule). Invalid rows are skipped and described
    in ``problems``.
    """
    if definitions is None or definitions.empty:
        return registry
    boards = list(registry.boards)
    lookup = board_lookup(boards)
    known = {k.id for k in registry.kpis}
    added: list[Kpi] = []
    problems = list(registry.problems)
    for row in definitions.to_dict("records"):
        kpi_id = str(row.get("kpi_id") or "").strip()
        if kpi_id in known:
            continue
        board_text = str(row.get("board") or "").strip()
        board_id = lookup.get(_norm(board_text))
        new_board = None
        if board_id is None and board_text:
            new_board = Board(id=_unique_board_id(_slug(board_text), boards), label=board_text)
            board_id = new_board.id
        unit = row.get("unit")
        raw = {
            "id": kpi_id, "label": row.get("label"), "board": board_id,
            "unit": unit, "polarity": row.get("polarity"),
            "type": "ratio" if unit in ("percentage", "rate_per_1000") else "simple",
            "frequency": row.get("frequency") or "monthly",
            "description": _text_or_empty(row.get("description")),
            "source": _text_or_empty(row.get("source")), "data": "return",
            "areas": ["partnership", "lcsp", "ward"],
        }
        try:
            kpi = parse_kpi(raw, [b.id for b in boards] + ([new_board.id] if new_board else []))
        except RegistryError as exc:
            problems.append(f"kpi_definitions row skipped: {exc}")
            continue
        if new_board is not None:
            boards.append(new_board)
            lookup = board_lookup(boards)
        added.append(replace(kpi, origin="database"))
        known.add(kpi_id)
    return Registry(boards=tuple(boards), kpis=registry.kpis + tuple(added), problems=tuple(problems))


def _text_or_empty(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _unique_board_id(base: str, boards: list[Board]) -> str:
    taken = {b.id for b in boards}
    candidate, n = base, 2
    if not _ID.match(candidate):
        candidate = f"board_{candidate}"[:64]
    while candidate in taken:
        candidate, n = f"{base[:60]}_{n}", n + 1
    return candidate


def measure_specs(kpis: Iterable[Kpi]) -> tuple[tuple, ...]:
    """(kpi_id, source, categories, subcategories, flag) for each incidents KPI: cacheable query input."""
    return tuple((k.id, *k.measure.as_key()) for k in kpis if k.data == "incidents" and k.measure)
