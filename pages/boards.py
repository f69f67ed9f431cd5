"""Priority boards: each board's KPIs with statistical process control, exceptions first.

Three views (``?board_view=``):

- **Boards overview**: one row per board, a compact card per KPI (latest value, sparkline, MDC
  variation and assurance icons, against target), exceptions first.
- **Board detail** (``?board=<id>``): each KPI's XmR chart with its target and table; the LCSPs as
  a ranked dot plot with 95% intervals and the city average; a ward drill-down; the board's
  outputs/actions with overdue ones flagged.
- **Meeting mode**: one KPI per screen in large type, exceptions first, Previous/Next buttons
  (also the Left/Right keys), no sidebar.

The shell's filters (period, LCSP, ward) apply: the latest value is the period's last month, the
chart is the 36 months up to it, and an LCSP or ward shows that area's KPIs. KPIs are data
(:mod:`kpis.registry` plus ``kpi_definitions`` rows); the maths is in :mod:`kpis.spc`,
:mod:`kpis.change` and :mod:`kpis.priority_boards`, the figures in :mod:`kpis.board_charts`.

Roles (:mod:`kpis.access`): the actions (owners, statuses, the share on track), meeting mode
and the board packs need "board_actions" / "board_pack"; a viewer sees the KPIs with their SPC.

Disclosure (:mod:`kpis.disclosure`, one rule for every page): below partnership level a
sensitive KPI (:func:`kpis.priority_boards.is_sensitive`) has no monthly series (a month is not
a standard period), only its figure for the filters' period, withheld where
:func:`pages.common.protect.is_withheld` says; the LCSP and ward tables withhold the same cells.
Partner returns are protected on the tree of their own values (the partnership and its LCSPs).
The board pack is built from the summaries the page drew, so it never shows more.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from data_access import board_queries as bq
from data_access import queries
from data_access.connection import cached
from kpis import board_charts, board_pack, change, disclosure, spc
from kpis import priority_boards as pb
from kpis.change import RAG_GLYPHS, RAG_LABELS
from kpis.disclosure import DisclosureRule
from kpis.periods import fy_label, fy_start_year
from kpis.registry import Kpi, Registry, load_registry, measure_specs, merge_definitions, safe_ratio
from kpis.text_safety import code_span, plain
from pages.common import auth, protect, shell, ui
from pages.common.data_warnings import render_data_warnings
from pages.common.shell import Filters

VIEWS = {"overview": "Boards overview", "detail": "Board detail", "meeting": "Meeting mode"}
ALL_BOARDS = "all"
PAGE_PATH = "boards"  # the url path, as the audit log names the page
MEMBERS_ONLY = "Actions, meeting mode and board packs are for board members."
HISTORY_MONTHS = 36
CARDS_PER_ROW = 4

# Query parameters this page owns (whitelisted; values validated before use).
P_VIEW, P_BOARD, P_SLIDE = "board_view", "board", "board_slide"
URL_KEYS = (P_VIEW, P_BOARD, P_SLIDE)

K_VIEW = "boards_view"
K_BOARD = "boards_board"
K_SLIDE = "boards_slide"
K_EXCEPTIONS_ONLY = "boards_exceptions_only"
K_SHOW_RAG = "boards_show_rag"
K_LIMITS = "boards_limits_from"
K_REBASE = "boards_rebase"
K_COMPARE_KPI = "boards_compare_kpi"
K_WARD_KPI = "boards_ward_kpi"
K_WARD_LCSP = "boards_ward_lcsp"
K_SYNCED = "boards_synced_params"

LIMITS_ALL = "All points"
LIMITS_FIRST_12 = "First 12 points"
NO_REBASE = "No change point"
BADGE_COLOURS = {spc.BLUE: "blue", spc.ORANGE: "orange", spc.GREY: "gray"}
RAG_BADGES = {"green": "green", "amber": "yellow", "red": "red", "none": "gray"}
MEETING_CSS = """
<style>
section[data-testid="stSidebar"], div[data-testid="stSidebarCollapsedControl"],
button[data-testid="stExpandSidebarButton"] { display: none !important; }
.boards-slide-board { font-size: 1.4rem; color: #4D4D4D; margin-bottom: 0; }
.boards-slide-title { font-size: 2.6rem; font-weight: 700; line-height: 1.15; margin: 0.1rem 0 0.6rem; }
.boards-slide-value { font-size: 4rem; font-weight: 700; line-height: 1.1; }
.boards-slide-line { font-size: 1.45rem; line-height: 1.35; margin: 0.35rem 0; }
</style>
"""


# --- settings -------------------------------------------------------------------------------

@dataclass(frozen=True)
class BoardSettings:
    """What the reader chose on this page (the shell's filters aside)."""

    view: str  # a key of VIEWS
    board_id: str  # a board id, or ALL_BOARDS (meeting mode only)
    slide: int  # 0-based slide in meeting mode
    exceptions_only: bool
    show_rag: bool
    limits_from: str  # LIMITS_ALL, LIMITS_FIRST_12 or a financial-year label
    rebase: str  # NO_REBASE or a month "YYYY-MM"


def load_board_registry() -> Registry:
    """The shipped registry plus KPIs defined in the database."""
    return merge_definitions(load_registry(), cached(bq.load_kpi_definitions))


def _apply_url(registry: Registry) -> list[str]:
    """Take the page's settings from a link; returns notes on values ignored."""
    url = {k: st.query_params[k] for k in URL_KEYS if k in st.query_params}
    if not url or url == st.session_state.get(K_SYNCED):
        return []
    ignored = []
    boards = {b.id for b in registry.boards}
    if P_VIEW in url:
        if url[P_VIEW] in VIEWS:
            st.session_state[K_VIEW] = url[P_VIEW]
        else:
            ignored.append(f"{P_VIEW}={code_span(url[P_VIEW])} (one of {', '.join(VIEWS)})")
    if P_BOARD in url:
        if url[P_BOARD] in boards or url[P_BOARD] == ALL_BOARDS:
            st.session_state[K_BOARD] = url[P_BOARD]
        else:
            ignored.append(f"{P_BOARD}={code_span(url[P_BOARD])} (not a board of this "
                           "partnership)")
    if P_SLIDE in url:
        text = url[P_SLIDE]
        if text.isdigit() and 1 <= int(text) <= 500:
            st.session_state[K_SLIDE] = int(text) - 1
        else:
            ignored.append(f"{P_SLIDE}={code_span(text)} (a slide number)")
    return ignored


def _write_url(settings: BoardSettings) -> None:
    params = {P_VIEW: settings.view}
    if settings.view != "overview":
        params[P_BOARD] = settings.board_id
    if settings.view == "meeting":
        params[P_SLIDE] = str(settings.slide + 1)
    shell.sync_query_params(params, URL_KEYS, K_SYNCED)


def _open_board(board_id: str, view: str = "detail") -> None:
    st.session_state[K_BOARD] = board_id
    st.session_state[K_VIEW] = view
    st.session_state[K_SLIDE] = 0


def _step_slide(delta: int, count: int) -> None:
    st.session_state[K_SLIDE] = min(max(st.session_state.get(K_SLIDE, 0) + delta, 0), max(count - 1, 0))


def show_settings(registry: Registry, filters: Filters) -> BoardSettings:
    """The page's own widgets (view, board, SPC options); the shell draws period and area."""
    state = st.session_state
    ignored = _apply_url(registry)
    if ignored:
        st.warning("Some settings in the link were not used: " + "; ".join(ignored) + ".",
                   icon=":material/link_off:")
    boards = {b.id: b.label for b in registry.boards}
    can_meet = auth.can("board_actions")
    views = {k: v for k, v in VIEWS.items() if can_meet or k != "meeting"}
    state.setdefault(K_VIEW, "overview")
    state.setdefault(K_SLIDE, 0)
    state.setdefault(K_EXCEPTIONS_ONLY, True)
    state.setdefault(K_SHOW_RAG, False)
    if state.get(K_BOARD) not in (*boards, ALL_BOARDS):
        state[K_BOARD] = next(iter(boards))
    if state[K_VIEW] not in views:  # meeting mode from a link, for a role without it
        state[K_VIEW] = "overview"

    top = st.columns([5, 3, 2], vertical_alignment="bottom")
    with top[0]:
        st.segmented_control("View", tuple(views), key=K_VIEW, format_func=VIEWS.get,
                             required=True)
    view = state[K_VIEW] or "overview"
    if view == "detail" and state[K_BOARD] == ALL_BOARDS:
        state[K_BOARD] = next(iter(boards))
    if view != "overview":
        choices = (ALL_BOARDS, *boards) if view == "meeting" else tuple(boards)
        with top[1]:
            st.selectbox("Board", choices, key=K_BOARD,
                         format_func=lambda b: "All boards" if b == ALL_BOARDS else boards[b],
                         on_change=lambda: state.__setitem__(K_SLIDE, 0))
    with top[2]:
        with st.popover("Options", icon=":material/tune:"):
            st.toggle("Show RAG against target", key=K_SHOW_RAG,
                      help="Red/amber/green against the target (amber: within 5%). SPC icons "
                           "stay the default view.")
            if can_meet:
                st.toggle("Meeting mode: exceptions only", key=K_EXCEPTIONS_ONLY,
                          help="Show only KPIs that are special-cause concerning or off target.")
            limit_options = (LIMITS_ALL, LIMITS_FIRST_12, *_baseline_years(filters))
            if state.get(K_LIMITS) not in limit_options:
                state[K_LIMITS] = LIMITS_ALL
            st.radio("Process limits from", limit_options, key=K_LIMITS,
                     help="The baseline the mean and limits are calculated from (Making Data "
                          "Count): all points, the first 12, or one financial year.")
            months = _window_months(filters)[1:]
            rebase_options = (NO_REBASE, *[f"{m:%Y-%m}" for m in months])
            if state.get(K_REBASE) not in rebase_options:
                state[K_REBASE] = NO_REBASE
            st.selectbox("Recalculate limits from", rebase_options, key=K_REBASE,
                         format_func=lambda v: v if v == NO_REBASE else ui.fmt_month(
                             dt.date.fromisoformat(v + "-01")),
                         help="Rebase after a known change (a new service, a recording change): "
                              "the limits are recalculated from this month on.")
    return BoardSettings(
        view=view, board_id=state[K_BOARD], slide=int(state.get(K_SLIDE, 0)),
        exceptions_only=bool(state.get(K_EXCEPTIONS_ONLY, True)),
        show_rag=bool(state.get(K_SHOW_RAG, False)), limits_from=state[K_LIMITS],
        rebase=state[K_REBASE],
    )


# --- data -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BoardsData:
    """Everything the views draw, as small frames and summaries."""

    registry: Registry
    level: str  # partnership | lcsp | ward
    area_code: str
    area_label: str
    city_code: str
    window_start: dt.date
    read_from: dt.date
    end: dt.date
    as_at: dt.date
    summaries: tuple[pb.KpiSummary, ...]
    rows: tuple[pb.BoardRow, ...]
    not_reported: tuple[Kpi, ...]  # KPIs not reported at this area level
    actions: pd.DataFrame  # empty for a role without "board_actions"
    sensitive_categories: tuple[str, ...]
    notes: tuple[str, ...]
    show_actions: bool  # the role may see the actions (owners, statuses, share on track)
    rule: DisclosureRule  # the viewer's disclosure rule

    def is_sensitive(self, kpi: Kpi) -> bool:
        """True when the disclosure rule covers this KPI's figures below partnership level."""
        return pb.is_sensitive(kpi, self.sensitive_categories)

    @property
    def below_partnership(self) -> bool:
        """True when the cards are for an LCSP or a ward."""
        return self.level != "partnership"

    @property
    def protected(self) -> tuple[pb.KpiSummary, ...]:
        """Summaries whose monthly figures are withheld here (sensitive, below partnership)."""
        return tuple(s for s in self.summaries if s.is_protected)


def _first_month(filters: Filters) -> dt.date:
    context = shell.current_context()
    return context.first_month if context else filters.period.start.replace(day=1)


def _window_months(filters: Filters) -> list[dt.date]:
    start = max(pb.history_start(filters.period.end, HISTORY_MONTHS), _first_month(filters))
    return [d.date() for d in pb.month_starts(start, filters.period.end)]


def _baseline_years(filters: Filters) -> list[str]:
    months = _window_months(filters)
    years = sorted({fy_start_year(m) for m in months})
    # a whole year inside the window only
    return [fy_label(y) for y in years if dt.date(y, 4, 1) in months and dt.date(y + 1, 3, 1) in months]


def _spc_options(settings: BoardSettings) -> dict:
    baseline = None
    if settings.limits_from == LIMITS_FIRST_12:
        baseline = 12
    elif settings.limits_from != LIMITS_ALL:
        start = int(settings.limits_from[:4])
        baseline = (dt.date(start, 4, 1), dt.date(start + 1, 3, 31))
    rebase = () if settings.rebase == NO_REBASE else (dt.date.fromisoformat(settings.rebase + "-01"),)
    return {"baseline": baseline, "rebase_at": rebase}


def _summarise(kpi: Kpi, series: pd.DataFrame, area_code: str, options: dict) -> pb.KpiSummary:
    try:
        return pb.summarise_kpi(kpi, series, area_code=area_code, **options)
    except ValueError:
        # A change point outside a short (e.g. quarterly) series: chart it without the rebase.
        return pb.summarise_kpi(kpi, series, area_code=area_code, baseline=options["baseline"])


def load_boards_data(filters: Filters, registry: Registry, settings: BoardSettings) -> BoardsData:
    """Query the small frames for the chosen area and period, and summarise every KPI."""
    end = filters.period.end
    first = _first_month(filters)
    window_start = max(pb.history_start(end, HISTORY_MONTHS), first)
    read_from = max(pb.fetch_start(registry, window_start), first)
    city = cached(bq.partnership_code) or "partnership"
    if filters.ward:
        level, area, label = "ward", filters.ward, filters.area_label
    elif filters.lcsp:
        level, area, label = "lcsp", filters.lcsp, filters.area_label
    else:
        level, area, label = "partnership", city, filters.area_label
    show_actions = auth.can("board_actions")
    specs = measure_specs(k for k in registry.kpis if k.exists_for(level))
    counts = cached(bq.load_measure_counts, measures=specs, start=read_from, end=end, level=level,
                    lcsp_code=filters.lcsp if level == "ward" else None)
    years = tuple(range(fy_start_year(read_from), fy_start_year(end) + 1))
    populations = cached(bq.load_populations, level=level, fy_starts=years,
                         lcsp_code=filters.lcsp if level == "ward" else None)
    values = cached(bq.load_kpi_values, area_codes=(area,), start=read_from, end=end)
    if show_actions:
        actions = cached(bq.load_board_actions, lcsp_code=filters.lcsp)
    else:  # not even read: owners and statuses are for board members
        actions = pd.DataFrame(columns=["action_id", "code", "title", "board", "owner",
                                        "lcsp_code", "due_date", "status", "status_date", "notes"])
    as_at = filters.data_end
    context = shell.current_context()
    if context is not None:
        as_at = context.last_day
    series = pb.assemble_series(
        registry, level=level, area_codes=[area], counts=counts, populations=populations,
        values=values, actions=actions if level == "partnership" else None,
        # Actions hold current statuses only: they are shown in the period's last month.
        start=window_start, end=end, read_from=read_from, as_at=min(as_at, end),
    )
    options = _spc_options(settings)
    # The share of actions on track is the actions' RAG in one number: board members only.
    reported = [k for k in registry.kpis if k.exists_for(level)
                and (show_actions or k.data != "actions")]
    try:
        summaries = tuple(pb.summarise_all(reported, series, area_code=area, **options))
    except ValueError:  # a change point some (quarterly) series do not reach
        summaries = tuple(_summarise(k, series, area, options) for k in reported)
    sensitive_categories = cached(bq.load_sensitive_categories)
    rule = protect.rule()
    if level != "partnership" and rule.applies(level=level, lcsp=filters.lcsp):
        # Below partnership level a sensitive KPI keeps no monthly series (not a standard
        # period): only its figure for the filters' period, under the one rule.
        sensitive = [s.kpi for s in summaries if pb.is_sensitive(s.kpi, sensitive_categories)]
        figures = protected_figures(filters, sensitive, level=level, area_code=area,
                                    city_code=city)
        summaries = tuple(pb.protected_summary(s.kpi, area, figures[s.kpi.id])
                          if s.kpi.id in figures else s for s in summaries)
    notes = list(registry.problems)
    return BoardsData(
        registry=registry, level=level, area_code=area, area_label=label, city_code=city,
        window_start=window_start, read_from=read_from, end=end, as_at=as_at,
        summaries=summaries, rows=tuple(pb.board_overview(registry, summaries)),
        not_reported=tuple(k for k in registry.kpis if not k.exists_for(level)),
        actions=actions, sensitive_categories=sensitive_categories, notes=tuple(notes),
        show_actions=show_actions, rule=rule,
    )


# --- disclosure -------------------------------------------------------------------------------

def disclosure_key(kpi: Kpi) -> str | None:
    """The one rule's key for an incidents KPI's measure (protect.withheld_map): its sensitive
    flag, or its one sensitive category. None when the measure is not exactly one of those (a
    flag narrowed by category, several categories): no withheld map covers such a count, so it
    is withheld everywhere below partnership level."""
    measure = kpi.measure
    if measure is None or kpi.data != "incidents" or measure.subcategories:
        return None
    if measure.flag:
        return protect.FLAG_KEYS.get(measure.flag) if not measure.categories else None
    if len(measure.categories) == 1:
        return protect.category_key(measure.source, measure.categories[0])
    return None


def withheld_areas(kpi: Kpi, period, *, level: str, codes, lcsp_of) -> list[bool]:
    """For a sensitive incidents KPI, which of these areas' figures for ``period`` are withheld
    from this viewer (the same cells as on every other page)."""
    key = disclosure_key(kpi)
    if period is None:
        return [True] * len(list(codes))
    if key is None:
        rule = protect.rule()
        return [rule.applies(level=level, lcsp=lcsp_of(code)) for code in codes]
    return protect.withheld_codes(key, period, level=level, codes=list(codes), lcsp_of=lcsp_of)


@dataclass(frozen=True)
class ReturnCells:
    """One period of a sensitive partner return, protected on the tree of its own values."""

    period_start: pd.Timestamp | None  # the latest period in the filters' period with values
    period_label: str
    values: pd.DataFrame  # that period's kpi_values rows (every area)
    withheld: frozenset[str] | None  # LCSP codes withheld; None: every LCSP (counts unknown)

    def is_withheld(self, code: str, rule: DisclosureRule) -> bool:
        """True when the viewer may not see ``code``'s value (an LCSP; wards are never given)."""
        if rule.full_detail(code):
            return False
        return self.withheld is None or code in self.withheld


def return_cells(filters: Filters, kpi: Kpi, city_code: str) -> ReturnCells:
    """The latest period of a sensitive return in the filters' period, and its withheld LCSPs
    (primary and secondary suppression on partnership -> LCSPs, :meth:`protect_tree`)."""
    values = cached(bq.load_kpi_values, kpi_ids=(kpi.id,), start=filters.period.start,
                    end=filters.period.end)
    if values.empty:
        return ReturnCells(None, filters.period.label, values, frozenset())
    latest = values["period_start"].max()
    rows = values[values["period_start"] == latest]
    grain = str(rows["period_grain"].iloc[0]) if "period_grain" in rows else "month"
    label = (f"quarter from {latest:%b %Y}" if grain.startswith("quarter") else f"{latest:%b %Y}")
    context = shell.current_context()
    lcsps = list(context.lcsps) if context else sorted(set(rows["area_code"]) - {city_code})
    tree = pb.return_area_tree(kpi, rows, partnership_code=city_code, lcsp_codes=lcsps)
    if tree is None:
        return ReturnCells(latest, label, rows, None)
    mask = protect.rule().protect_tree(tree)
    withheld = set(tree.loc[mask.to_numpy(), "area_code"])
    # An area outside the tree (not a current LCSP) is never shown.
    withheld |= set(rows["area_code"]) - set(tree["area_code"])
    return ReturnCells(latest, label, rows, frozenset(withheld))


def protected_figures(filters: Filters, kpis: list[Kpi], *, level: str, area_code: str,
                      city_code: str) -> dict[str, pb.ProtectedFigure]:
    """For each sensitive KPI, the figure an LCSP or ward shows instead of its monthly series:
    the count (or rate) over the filters' period, or the latest period of a partner return,
    withheld where the one rule says."""
    out: dict[str, pb.ProtectedFigure] = {}
    incident = [k for k in kpis if k.data == "incidents"]
    if incident:
        counts = cached(bq.load_measure_counts, measures=measure_specs(incident),
                        start=filters.period.start, end=filters.period.end, level=level,
                        lcsp_code=filters.lcsp)
        own = counts[counts["area_code"] == area_code] if len(counts) else counts
        totals = own.groupby("kpi_id")["n"].sum() if len(own) else pd.Series(dtype="float64")
        population = math.nan
        if any(k.denominator == "population" for k in incident):
            pops = cached(bq.load_populations, level=level, fy_starts=(filters.membership_fy,),
                          lcsp_code=filters.lcsp if level == "ward" else None)
            found = pops.loc[pops["area_code"] == area_code, "population"]
            population = float(found.iloc[0]) if len(found) else math.nan
        for kpi in incident:
            (withheld,) = withheld_areas(kpi, filters.period, level=level, codes=[area_code],
                                         lcsp_of=lambda _code: filters.lcsp)
            n = float(totals.get(kpi.id, 0.0))
            value = safe_ratio(n, population, kpi.scale) if kpi.denominator == "population" else n
            out[kpi.id] = pb.protected_figure(value, kpi.unit, filters.period.label, withheld)
    for kpi in kpis:
        if kpi.data != "return":
            continue
        cells = return_cells(filters, kpi, city_code)
        own = cells.values[cells.values["area_code"] == area_code] if len(cells.values) else cells.values
        value = float(own["value"].iloc[0]) if len(own) else None
        # Returns are protected LCSP by LCSP; a ward's share is never given.
        withheld = level != "lcsp" or cells.is_withheld(area_code, protect.rule())
        out[kpi.id] = pb.protected_figure(value, kpi.unit, cells.period_label, withheld)
    return out


def _period_total(counts: pd.DataFrame, kpi_id: str, start: dt.date, end: dt.date) -> pd.Series:
    if counts.empty:
        return pd.Series(dtype="float64")
    when = counts["month_start"]
    chosen = counts[(counts["kpi_id"] == kpi_id) & (when >= pd.Timestamp(start))
                    & (when <= pd.Timestamp(end))]
    return chosen.groupby("area_code")["n"].sum().astype("float64")


def _dispersions(counts: pd.DataFrame, kpi_id: str, start: dt.date, end: dt.date) -> pd.Series:
    """Each area's overdispersion from its monthly counts (months with no row count as zero)."""
    months = pb.month_starts(start, end)
    own = counts[counts["kpi_id"] == kpi_id] if len(counts) else counts
    if own.empty:
        return pd.Series(dtype="float64")
    grid = own.pivot_table(index="area_code", columns="month_start", values="n", aggfunc="sum",
                           fill_value=0).reindex(columns=months, fill_value=0)
    return pd.Series({code: change.estimate_dispersion(row) for code, row in
                      zip(grid.index, grid.to_numpy(dtype="float64"))})


def load_area_comparison(
    filters: Filters, data: BoardsData, kpi: Kpi, level: str, lcsp_code: str | None = None
) -> pd.DataFrame:
    """LCSPs (or the wards of one LCSP) for one KPI over the period, against the city.

    Incident KPIs: count, rate per 1,000 with exact intervals, verdict against the rest, change on
    a year earlier. Partner returns: the latest value each area reported (no interval).
    """
    membership = cached(queries.load_ward_membership, fy_start=filters.membership_fy)
    if level == "lcsp":
        names = membership.drop_duplicates("lcsp_code").set_index("lcsp_code")["lcsp_name"].to_dict()
    else:
        names = membership[membership["lcsp_code"] == lcsp_code].set_index("ward_code")["ward_name"].to_dict()
    if kpi.data == "incidents":
        start = filters.period.start
        previous = filters.previous if filters.previous and filters.previous.start >= data.read_from else None
        q_start = min(start, previous.start) if previous else start
        counts = cached(bq.load_measure_counts, measures=measure_specs([kpi]), start=q_start,
                        end=filters.period.end, level=level,
                        lcsp_code=lcsp_code if level == "ward" else None)
        pops = cached(bq.load_populations, level=level, fy_starts=(filters.membership_fy,),
                      lcsp_code=lcsp_code if level == "ward" else None)
        pop = pops.set_index("area_code")["population"]
        now = _period_total(counts, kpi.id, start, filters.period.end)
        frame = pd.DataFrame({"area_code": list(names), "area_name": list(names.values())})
        frame["n"] = frame["area_code"].map(now).fillna(0.0)
        frame["population"] = frame["area_code"].map(pop)
        if previous is not None:
            before = _period_total(counts, kpi.id, previous.start, previous.end)
            frame["n_previous"] = frame["area_code"].map(before).fillna(0.0)
            frame["dispersion"] = frame["area_code"].map(_dispersions(counts, kpi.id, q_start,
                                                                      filters.period.end)).fillna(1.0)
        reference = None
        if level == "ward":
            # Wards are judged against the whole city (located incidents, all LCSPs' residents).
            city_counts = cached(bq.load_measure_counts, measures=measure_specs([kpi]),
                                 start=q_start, end=filters.period.end, level="lcsp")
            city_pops = cached(bq.load_populations, level="lcsp", fy_starts=(filters.membership_fy,))
            reference = (float(_period_total(city_counts, kpi.id, start, filters.period.end).sum()),
                         float(city_pops["population"].sum()))
        return pb.area_comparison(frame, reference=reference)
    if data.is_sensitive(kpi):
        # One period for every area, so the tree of its values protects them together.
        values = return_cells(filters, kpi, data.city_code).values
    else:
        values = cached(bq.load_kpi_values, kpi_ids=(kpi.id,), start=filters.period.start,
                        end=filters.period.end)
    values = values[values["area_code"].isin(list(names) + [data.city_code])]
    if values.empty:
        return pd.DataFrame(columns=["area_code", "area_name", "rate"])
    series = pb.return_series(kpi, values)
    latest = series.sort_values("period_start").groupby("area_code").tail(1)
    city = latest[latest["area_code"] == data.city_code]["value"]
    frame = latest[latest["area_code"].isin(list(names))].assign(
        area_name=lambda f: f["area_code"].map(names), rate=lambda f: f["value"],
        city_rate=float(city.iloc[0]) if len(city) else math.nan, vs_city="not tested",
    )
    return frame.sort_values("rate", ascending=False).reset_index(drop=True)


# --- render helpers -----------------------------------------------------------------------------

def _shown_value(summary: pb.KpiSummary, compact: bool = False) -> str:
    if summary.protected is not None:
        return summary.protected.text
    if compact and summary.kpi.unit == "rate_per_1000":
        # the label already says "per 1,000 residents"; the card is narrow
        value = summary.latest_value
        return ui.NO_VALUE if not math.isfinite(value) else f"{value:,.{3 if abs(value) < 1 else 2}f}"
    return pb.format_value(summary.latest_value, summary.kpi.unit)


def _protected_line(summary: pb.KpiSummary) -> str:
    """Under a protected figure: its period, and why there is no monthly chart."""
    figure = summary.protected
    return (f"{figure.period} · monthly figures and chart for the whole partnership only, to "
            "protect victims")


def _audit_sensitive(filters: Filters, data: BoardsData, summaries, what: str) -> None:
    """Audit-log sensitive KPI figures drawn below partnership level (withheld or not)."""
    labels = [s.kpi.label for s in summaries if data.is_sensitive(s.kpi)]
    if data.below_partnership and labels:
        protect.audit_sensitive_view(PAGE_PATH, f"{what}: {', '.join(labels)}", filters)


def _sparkline(summary: pb.KpiSummary) -> list | None:
    values = [None if not math.isfinite(v) else round(v, 4) for v in summary.sparkline]
    return values if sum(v is not None for v in values) >= 2 else None


def _badges_markdown(summary: pb.KpiSummary, show_rag: bool) -> str:
    """The icons as one line of Streamlit badges: glyph and words, colour only as a third cue."""
    badges = [summary.variation, summary.assurance]
    parts = [f":{BADGE_COLOURS.get(icon.colour, 'gray')}-badge[{plain(icon.text)}]"
             for icon in badges]
    if show_rag:
        rag = plain(f"{RAG_GLYPHS[summary.rag]} {RAG_LABELS[summary.rag]}")
        parts.append(f":{RAG_BADGES[summary.rag]}-badge[{rag}]")
    return " ".join(parts)


def render_card(summary: pb.KpiSummary, data: BoardsData, settings: BoardSettings) -> None:
    """One compact KPI card: label, value, sparkline, icons as badges (text + glyph), target."""
    with st.container(border=True):
        st.markdown(f"**{plain(summary.kpi.label)}**",
                    help=plain(summary.kpi.description) or None)
        if summary.is_protected:
            st.metric(plain(summary.kpi.label), _shown_value(summary),
                      label_visibility="collapsed")
            st.caption(plain(_protected_line(summary)))
            return
        st.metric(plain(summary.kpi.label), _shown_value(summary, compact=True),
                  label_visibility="collapsed", chart_data=_sparkline(summary))
        st.markdown(_badges_markdown(summary, settings.show_rag))
        month = f"{summary.latest_period:%b %Y}" if summary.latest_period is not None else "no data"
        if summary.kpi.data == "actions":
            month = f"status as at {ui.fmt_day(data.as_at)}"
        lines = [plain(f"{month} · {summary.vs_target}")]
        if summary.is_exception:
            lines.insert(0, f"**⚑ Exception: {plain(summary.exception_reason)}**")
        st.caption("  \n".join(lines))


def _counts_line(row: pb.BoardRow) -> str:
    c = row.counts
    parts = [f"{c['kpis']} KPIs", f"{c['concerning']} concerning", f"{c['off_target']} off target",
             f"{c['improving']} improving"]
    return " · ".join(parts)


def render_overview(filters: Filters, data: BoardsData, settings: BoardSettings) -> None:
    """One row per board, exceptions first inside each."""
    exceptions = pb.exception_table(data.rows)
    st.markdown(f"**{len(exceptions)} exception{'s' if len(exceptions) != 1 else ''}** across "
                f"{len(data.rows)} boards (special-cause concerning or off target).")
    _audit_sensitive(filters, data, data.summaries, "Boards overview")
    for row in data.rows:
        if not row.summaries:
            continue
        with st.container(border=True):
            head = st.columns([5, 2], vertical_alignment="center")
            head[0].subheader(plain(row.label), anchor=False)
            head[0].caption(_counts_line(row))
            head[1].button("Open board", key=f"boards_open_{row.board_id}", icon=":material/open_in_new:",
                           on_click=_open_board, args=(row.board_id,))
            cards = list(row.summaries)
            for i in range(0, len(cards), CARDS_PER_ROW):
                for column, summary in zip(st.columns(CARDS_PER_ROW), cards[i:i + CARDS_PER_ROW]):
                    with column:
                        render_card(summary, data, settings)
    table = _accessible_table(data)
    with st.expander("All KPIs as a table"):
        st.dataframe(table, hide_index=True, width="stretch")
    ui.download_button(table, "priority_boards_kpis.csv", key="boards_overview_download",
                       label="Download KPI table (CSV)")


def _accessible_table(data: BoardsData) -> pd.DataFrame:
    """The cards as rows (a protected KPI: its period figure or "withheld", nothing else)."""
    rows = []
    for row in data.rows:
        table = pb.summary_table(row.summaries)
        table.insert(0, "board", row.label)
        rows.append(table)
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def render_kpi_detail(summary: pb.KpiSummary, data: BoardsData, settings: BoardSettings) -> None:
    """One KPI: icons, words, its SPC chart and table."""
    kpi = summary.kpi
    with st.container(border=True):
        st.subheader(plain(kpi.label), anchor=False)
        if summary.is_protected:
            st.metric(plain(kpi.label), _shown_value(summary), label_visibility="collapsed")
            st.caption(plain(summary.protected.period))
            st.info(f"{pb.PROTECTED_NOTE} Choose the whole partnership to see this KPI's "
                    "monthly chart.", icon=":material/lock:")
            return
        st.markdown(_badges_markdown(summary, settings.show_rag))
        if summary.is_exception:
            st.markdown(f"**⚑ Exception: {plain(summary.exception_reason)}**")
        st.markdown(plain(board_charts.value_caption(summary)))
        facts = [kpi.description, f"Source: {kpi.source}" if kpi.source else "",
                 f"Target rule: {kpi.target.describe()}" if kpi.target else ""]
        if summary.spc is not None:
            facts.extend(note.capitalize() for note in summary.spc.notes)
        # The description and source are text from kpi_definitions: shown as written.
        st.caption(" · ".join(plain(f) for f in facts if f))
        ui.chart_with_data(board_charts.spc_figure(summary, show_title=False),
                           board_charts.spc_table(summary), key=f"boards_spc_{kpi.id}",
                           file_name=f"spc_{kpi.id}.csv")


def _comparison_table(frame: pd.DataFrame) -> pd.DataFrame:
    if "n" not in frame:
        return frame.rename(columns={"area_name": "Area", "rate": "Latest value"})[["Area", "Latest value"]]
    table = pd.DataFrame({
        "Area": frame["area_name"], "Count": frame["n"].astype("Int64"),
        "Per 1,000 residents": frame["rate"].round(2),
        "95% CI low": frame["rate_low"].round(2), "95% CI high": frame["rate_high"].round(2),
        "Against the rest of the city": frame["vs_city"],
    })
    if "change_label" in frame:
        table["Count a year earlier"] = frame["n_previous"].astype("Int64")
        table["Change on a year earlier"] = frame["change_label"]
    return table


def protect_comparison(frame: pd.DataFrame, kpi: Kpi, data: BoardsData, filters: Filters, *,
                       level: str, lcsp_code: str | None) -> tuple[pd.DataFrame, pd.DataFrame, bool]:
    """(table, rows to plot, whether any figure is withheld) for an LCSP or ward comparison.

    Every row is below partnership level: for a sensitive KPI the one rule decides each cell
    (the same cells as every other page), and anything derived from a withheld count (rate,
    interval, verdict, change) is blanked; withheld areas are left out of the chart.
    """
    table = _comparison_table(frame)
    if not data.is_sensitive(kpi) or frame.empty:
        return table, frame, False
    codes = frame["area_code"].tolist()

    def lcsp_of(code: str) -> str | None:
        return code if level == "lcsp" else lcsp_code

    if kpi.data == "return":
        # Returns are protected LCSP by LCSP on their own tree; a ward's share is never given.
        rule = data.rule
        cells = return_cells(filters, kpi, data.city_code)
        if level == "lcsp":
            now = [cells.is_withheld(code, rule) for code in codes]
        else:
            now = [rule.applies(level=level, lcsp=lcsp_code) for _ in codes]
        table = disclosure.withhold(table, now, ["Latest value"])
    else:
        now = withheld_areas(kpi, filters.period, level=level, codes=codes, lcsp_of=lcsp_of)
        change_cols = ["Change on a year earlier"] if "Change on a year earlier" in table else []
        table = disclosure.withhold(
            table, now, ["Count"],
            ["Per 1,000 residents", "95% CI low", "95% CI high", "Against the rest of the city",
             *change_cols])
        if "Count a year earlier" in table:
            before = withheld_areas(kpi, filters.previous, level=level, codes=codes,
                                    lcsp_of=lcsp_of)
            table = disclosure.withhold(table, before, ["Count a year earlier"], change_cols)
            now = [a or b for a, b in zip(now, before)]
    shown = ~pd.Series(now, index=frame.index, dtype=bool)
    return _as_text(table), frame[shown.to_numpy()], not bool(shown.all())


def _as_text(table: pd.DataFrame) -> pd.DataFrame:
    """Figure columns holding the withheld label as plain text (a column of numbers and words
    is neither numeric for the table widget nor for a spreadsheet)."""
    out = table.copy()
    for column in ("Count", "Count a year earlier", "Latest value"):
        if column in out and out[column].map(lambda v: v == disclosure.WITHHELD).any():
            out[column] = [v if isinstance(v, str) else ("" if pd.isna(v) else
                           (str(int(v)) if float(v).is_integer() else f"{float(v):g}"))
                           for v in out[column]]
    return out


def render_comparisons(filters: Filters, data: BoardsData, board_id: str) -> None:
    """The LCSP comparison and the ward drill-down for a chosen KPI of the board."""
    kpis = [k for k in data.registry.board_kpis(board_id) if k.exists_for("lcsp")]
    st.subheader("LCSPs compared", anchor=False)
    if not kpis:
        st.caption("None of this board's KPIs is reported by LCSP.")
    else:
        ids = [k.id for k in kpis]
        if st.session_state.get(K_COMPARE_KPI) not in ids:
            st.session_state[K_COMPARE_KPI] = ids[0]
        choice = st.selectbox("KPI to compare", ids, key=K_COMPARE_KPI,
                              format_func=lambda i: data.registry.kpi(i).label)
        kpi = data.registry.kpi(choice)
        frame = load_area_comparison(filters, data, kpi, "lcsp")
        _render_comparison(frame, kpi, data, filters, "LCSP", key="boards_lcsp", level="lcsp",
                           lcsp_code=None)

    ward_kpis = [k for k in data.registry.board_kpis(board_id)
                 if k.exists_for("ward") and k.data == "incidents"]
    st.subheader("Ward drill-down", anchor=False)
    if not ward_kpis:
        st.caption("None of this board's KPIs is reported by ward.")
        return
    context = shell.current_context()
    lcsps = context.lcsps if context else {}
    cols = st.columns(2)
    ids = [k.id for k in ward_kpis]
    if st.session_state.get(K_WARD_KPI) not in ids:
        st.session_state[K_WARD_KPI] = ids[0]
    with cols[0]:
        choice = st.selectbox("KPI", ids, key=K_WARD_KPI,
                              format_func=lambda i: data.registry.kpi(i).label)
    with cols[1]:
        if filters.lcsp:
            lcsp = filters.lcsp
            st.text_input("LCSP", lcsps.get(lcsp, lcsp), disabled=True,
                          help="Set by the LCSP filter in the sidebar.")
        else:
            if st.session_state.get(K_WARD_LCSP) not in lcsps:
                st.session_state[K_WARD_LCSP] = next(iter(lcsps), None)
            lcsp = st.selectbox("LCSP", tuple(lcsps), key=K_WARD_LCSP, format_func=lcsps.get)
    if lcsp is None:
        return
    kpi = data.registry.kpi(choice)
    frame = load_area_comparison(filters, data, kpi, "ward", lcsp_code=lcsp)
    _render_comparison(frame, kpi, data, filters, f"ward in {lcsps.get(lcsp, lcsp)} LCSP",
                       key="boards_ward", level="ward", lcsp_code=lcsp)


def _render_comparison(frame: pd.DataFrame, kpi: Kpi, data: BoardsData, filters: Filters,
                       what: str, *, key: str, level: str, lcsp_code: str | None) -> None:
    if frame.empty:
        st.caption("No values for this period.")
        return
    if data.is_sensitive(kpi):
        protect.audit_sensitive_view(PAGE_PATH, f"{kpi.label} by {what}", filters)
    table, plotted, withheld = protect_comparison(frame, kpi, data, filters, level=level,
                                                  lcsp_code=lcsp_code)
    incidents = kpi.data == "incidents"
    title = (f"{kpi.label}: {filters.period.label}, per 1,000 residents" if incidents
             else f"{kpi.label}: latest value by {what.split(' ')[0]}")
    fig = board_charts.comparison_figure(
        plotted, title=title,
        value_title="Per 1,000 residents" if incidents else board_charts.AXIS_TITLES[kpi.unit])
    captions = []
    if incidents:
        captions.append(
            "Bars are exact 95% Poisson intervals. Each area is tested against the rest of the "
            "city (exact conditional test, p < 0.05); ▲ higher, ▼ lower, ● no significant "
            "difference. The dashed line is the city average. The change on a year earlier "
            "allows for each area's own month-to-month variation (quasi-Poisson), so a small "
            "rise in a large count is not called significant.")
    if withheld:
        captions.append(disclosure.note(data.rule))
    ui.chart_with_data(fig, table, key=key, file_name=f"{key}_{kpi.id}.csv",
                       caption=" ".join(captions) or None)


def render_actions(data: BoardsData, board_id: str) -> None:
    """The board's outputs/actions: owner, due date, status, overdue flagged (in words)."""
    st.subheader("Outputs and actions", anchor=False)
    actions = data.actions
    if not actions.empty:
        actions = actions[actions["board"].map(data.registry.board_id_for) == board_id]
    if actions.empty:
        st.caption("No actions recorded for this board.")
        return
    summary = pb.action_summary(actions, as_at=data.as_at)
    counts = pb.action_counts(actions, as_at=data.as_at)
    st.markdown(
        f"**{counts['total']}** actions · **{counts['overdue']} overdue** as at "
        f"{ui.fmt_day(data.as_at)} · {counts['complete']} complete · {counts['on_track']} on track "
        f"· {counts['at_risk']} at risk · {counts['off_track']} off track · "
        f"{counts['not_started']} not started"
    )
    table = pd.DataFrame({
        "Overdue": summary["overdue"].map({True: "OVERDUE", False: ""}),
        "Code": summary["code"], "Action": summary["title"], "Owner": summary["owner"],
        "Due": pd.to_datetime(summary["due_date"]).dt.date, "Status": summary["status_label"],
        "Days overdue": summary["days_overdue"], "Status updated": pd.to_datetime(summary["status_date"]).dt.date,
    })
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        "Overdue": st.column_config.TextColumn(help="Due before the as-at date and not complete"),
        "Due": st.column_config.DateColumn(format="D MMM YYYY"),
        "Status updated": st.column_config.DateColumn(format="D MMM YYYY"),
    })
    ui.download_button(table, f"actions_{board_id}.csv", key="boards_actions_download")


def pack_content(filters: Filters, data: BoardsData, board_id: str | None) -> board_pack.PackContent:
    """What the board pack shows: one board (or all), from the very summaries the page draws
    (so the same figures withheld, with the same label), and the actions for board members."""
    rows = tuple(r for r in data.rows if r.summaries and board_id in (None, r.board_id))
    actions = {}
    if data.show_actions:
        for row in rows:
            own = data.actions[data.actions["board"].map(data.registry.board_id_for) == row.board_id] \
                if len(data.actions) else data.actions
            actions[row.board_id] = pb.action_summary(own, as_at=data.as_at)
    protected = any(s.is_protected for row in rows for s in row.summaries)
    context = shell.current_context()
    return board_pack.PackContent(
        title="Priority boards pack" if board_id is None else f"{rows[0].label} board pack",
        partnership=context.partnership_name if context else "",
        period_label=filters.period.label, area_label=data.area_label, as_at=data.as_at,
        data_line=context.freshness() if context else f"Data to {ui.fmt_day(data.as_at)}",
        rows=rows, actions=actions, show_actions=data.show_actions,
        disclosure_note=disclosure.note(data.rule) if protected else "",
    )


def render_pack_downloads(filters: Filters, data: BoardsData, board_id: str | None) -> None:
    """PDF and PowerPoint downloads of the board pack (board members), built when clicked."""
    if not auth.can("board_pack"):
        return
    if not any(r.summaries and board_id in (None, r.board_id) for r in data.rows):
        return
    content = pack_content(filters, data, board_id)
    stem = "".join(ch if ch.isalnum() else "_" for ch in
                   f"board_pack_{board_id or 'all_boards'}_{filters.period.label}").strip("_")
    st.subheader("Board pack", anchor=False)
    st.caption("The board(s) for this period and area, with charts, the exception summary and "
               "actions; the same period and data give the same file. Building takes a few "
               "seconds per chart.")
    cols = st.columns(2)
    kpis = len(content.summaries)
    ui.export_button(
        "Download board pack (PDF)", lambda: board_pack.build_pack(content, "pdf"),
        f"{stem}.pdf", key="boards_pack_pdf", mime="application/pdf", rows=kpis,
        capability="board_pack", icon=":material/picture_as_pdf:", container=cols[0],
        width="stretch")
    ui.export_button(
        "Download board pack (PowerPoint)", lambda: board_pack.build_pack(content, "pptx"),
        f"{stem}.pptx", key="boards_pack_pptx", rows=kpis, capability="board_pack",
        mime="application/vnd.openxmlformats-officedocument.presentationml.presentation",
        icon=":material/slideshow:", container=cols[1], width="stretch")


def render_detail(filters: Filters, data: BoardsData, settings: BoardSettings) -> None:
    """Board detail: KPIs exceptions first, comparisons, actions (board members)."""
    row = next((r for r in data.rows if r.board_id == settings.board_id), None)
    if row is None:
        st.info("This board has no KPIs.")
        return
    st.header(plain(row.label), anchor=False)
    st.caption(_counts_line(row))
    if not row.summaries:
        st.info(f"None of this board's KPIs is reported for {plain(data.area_label)}.")
    _audit_sensitive(filters, data, row.summaries, f"Board detail, {row.label}")
    for summary in row.summaries:
        render_kpi_detail(summary, data, settings)
    render_comparisons(filters, data, row.board_id)
    if data.show_actions:
        render_actions(data, row.board_id)
    render_pack_downloads(filters, data, row.board_id)


def meeting_slides(data: BoardsData, settings: BoardSettings) -> list[pb.KpiSummary]:
    """The KPIs to present, most urgent first: one board or all, exceptions only by choice."""
    rows = [r for r in data.rows if settings.board_id in (ALL_BOARDS, r.board_id)]
    summaries = [s for r in rows for s in r.summaries]
    ordered = pb.order_summaries(summaries, data.registry)
    if settings.exceptions_only:
        exceptions = [s for s in ordered if s.is_exception]
        return exceptions or ordered
    return ordered


def render_meeting(filters: Filters, data: BoardsData, settings: BoardSettings) -> None:
    """Presentation view: one KPI per screen in large type, Previous/Next (or Left/Right keys)."""
    st.markdown(MEETING_CSS, unsafe_allow_html=True)
    slides = meeting_slides(data, settings)
    if not slides:
        st.info("No KPIs to present for this board and area.")
        return
    index = min(max(settings.slide, 0), len(slides) - 1)
    st.session_state[K_SLIDE] = index
    only = settings.exceptions_only and any(s.is_exception for s in slides)
    nav = st.columns([1, 3, 1], vertical_alignment="center")
    nav[0].button("Previous", key="boards_prev", icon=":material/arrow_back:", shortcut="Left",
                  disabled=index == 0, on_click=_step_slide, args=(-1, len(slides)), width="stretch")
    nav[1].markdown(f"<div style='text-align:center;font-size:1.2rem'>Slide {index + 1} of "
                    f"{len(slides)}{' (exceptions)' if only else ''} · "
                    f"{html.escape(filters.period.label)} · {html.escape(data.area_label)}</div>",
                    unsafe_allow_html=True)
    nav[2].button("Next", key="boards_next", icon=":material/arrow_forward:", shortcut="Right",
                  disabled=index >= len(slides) - 1, on_click=_step_slide, args=(1, len(slides)),
                  width="stretch")
    summary = slides[index]
    _audit_sensitive(filters, data, [summary], "Meeting mode")
    board = data.registry.board(summary.kpi.board).label
    st.markdown(
        f"<div class='boards-slide-board'>{html.escape(board)}</div>"
        f"<div class='boards-slide-title'>{html.escape(summary.kpi.label)}</div>",
        unsafe_allow_html=True,
    )
    left, right = st.columns([1, 2])
    with left:
        if summary.is_protected:
            month = summary.protected.period
        else:
            month = f"{summary.latest_period:%B %Y}" if summary.latest_period is not None else ""
        if summary.kpi.data == "actions":
            month = f"status as at {ui.fmt_day(data.as_at)}"
        lines = [f"<div class='boards-slide-value'>{html.escape(_shown_value(summary))}</div>",
                 f"<div class='boards-slide-line'>{html.escape(month)}</div>"]
        if not summary.is_protected:
            lines += [
                f"<div class='boards-slide-line'><b>{html.escape(summary.variation.glyph)}</b> "
                f"{html.escape(summary.variation.label)}</div>",
                f"<div class='boards-slide-line'><b>{html.escape(summary.assurance.glyph)}</b> "
                f"{html.escape(summary.assurance.label)}</div>",
                f"<div class='boards-slide-line'>{html.escape(summary.vs_target.capitalize())}</div>",
            ]
            if summary.is_exception:
                lines.append(f"<div class='boards-slide-line'><b>⚑ Exception:</b> "
                             f"{html.escape(summary.exception_reason)}</div>")
        st.markdown("".join(lines), unsafe_allow_html=True)
    with right:
        if summary.is_protected:
            st.info(pb.PROTECTED_NOTE, icon=":material/lock:")
            if summary.protected.withheld:
                st.caption(disclosure.note(data.rule))
        else:
            ui.chart_with_data(
                board_charts.spc_figure(summary, height=430, font_size=17, show_title=False),
                board_charts.spc_table(summary), key="boards_meeting", file_name=f"spc_{summary.kpi.id}.csv",
            )
    st.button("Leave meeting mode", key="boards_leave_meeting", icon=":material/close:",
              on_click=lambda: st.session_state.__setitem__(K_VIEW, "overview"))


def render_boards_page() -> None:
    """The Priority boards page: settings, data, then the chosen view."""
    filters = shell.current_filters()
    registry = load_board_registry()
    st.title("Priority boards")
    settings = show_settings(registry, filters)
    data = load_boards_data(filters, registry, settings)
    _write_url(settings)
    st.markdown(f"**{filters.period.label}** · **{plain(data.area_label)}** · latest month "
                f"{ui.fmt_month(data.end)} · charts from {ui.fmt_month(data.window_start)}")
    if not (auth.can("board_actions") and auth.can("board_pack")):
        st.caption(MEMBERS_ONLY)
    if settings.view != "meeting":  # meeting mode stays uncluttered; the chair sees it here first
        render_data_warnings(sorted({k.measure.source for k in registry.kpis if k.measure}),
                             filters.period)
    if settings.view == "meeting":
        render_meeting(filters, data, settings)
        return
    if settings.view == "detail":
        render_detail(filters, data, settings)
    else:
        render_overview(filters, data, settings)
        render_pack_downloads(filters, data, None)
    notes = ["Icons follow NHS “Making Data Count”: ▲/▼ Improving or Concerning is special-cause "
             "variation (a real change, not noise); ~ Common cause is normal variation; P, F and "
             "? say whether the target will be met consistently, missed consistently, or hit "
             "and miss. Fewer than 12 points: no signals are claimed."]
    if data.not_reported:
        notes.append(f"{len(data.not_reported)} KPIs are not reported for "
                     f"{'LCSPs' if data.level == 'lcsp' else 'wards'} and are left out.")
    if data.protected:
        notes.append(f"{pb.PROTECTED_NOTE} {disclosure.note(data.rule)}")
    st.caption(" ".join(notes))
    for note in data.notes:  # registry problems quote kpi_definitions values: as text
        st.warning(plain(note), icon=":material/warning:")


# Streamlit runs a page as __main__; importing the module (tests) draws nothing.
if __name__ == "__main__":
    shell.ensure_session_defaults()
    with shell.page_guard("the Priority boards page"):
        render_boards_page()
