"""The frame every page shares: database readiness, global filters, freshness line, error guard.

- :func:`ensure_database` (from ``app.py``): builds the embedded sample database on first run
  with a progress bar, or explains what to do when the database is empty or unreachable.
- :func:`render_frame` (from ``app.py``, every run): the sidebar filters (period, LCSP, ward)
  and the data-freshness line. Filters live in ``st.query_params`` under the whitelisted
  :data:`QUERY_KEYS`, validated, so a copied link reproduces the view; values from a link that
  do not fit the data are ignored with a warning.
- :func:`ensure_session_defaults` (from every page) and :func:`current_filters` (the frozen
  :class:`Filters` a page draws with).
- :class:`page_guard`: turns any exception into a short message, the traceback going to the log.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa
import streamlit as st

from data_access import bootstrap, connection, queries
from data_access import engine as eng
from kpis import periods
from kpis.periods import Period
from kpis.text_safety import code_span, plain
from pages.common import ui

logger = logging.getLogger("csp_dashboard")

# The only query parameters the frame reads or writes; pages may add their own, prefixed.
QUERY_KEYS = ("fy", "from", "to", "lcsp", "ward")
_MAX_PARAM_LENGTH = 40

K_MODE = "shell_period_mode"
K_FY = "shell_fy"
K_MONTHS = "shell_months"
# The month range as last chosen, kept outside the widget: after a page switch Streamlit can
# hand the range slider back its default (a single month), which would lose the user's range.
K_MONTHS_KEPT = "shell_months_kept"
K_LCSP = "shell_lcsp"
K_WARD = "shell_ward"
K_SYNCED = "shell_synced_params"  # the filter params the frame last wrote to the URL
K_FILTERS = "shell_filters"
K_CONTEXT = "shell_context"
K_DB_READY = "shell_database_ready"

MODE_FY = "Financial year"
MODE_MONTHS = "Months"
ALL = ""  # the "All" choice of the LCSP and ward boxes
DEFAULT_RANGE_MONTHS = 12
LOAD_COMMAND = "python -m sample_data.load"


@dataclass(frozen=True)
class DataContext:
    """Facts about the loaded data that the filters and freshness line need."""

    first_month: dt.date
    last_month: dt.date
    last_day: dt.date  # the latest day with data
    data_end: dt.date  # the end of the last complete month
    fy_periods: dict[int, Period]  # selectable financial years, newest first
    default_fy: int
    months: tuple[dt.date, ...]  # months selectable in a custom range
    lcsps: dict[str, str]  # code -> name, in name order
    partnership_name: str
    synthetic: bool
    loaded_at: dt.datetime | None

    def freshness(self) -> str:
        """E.g. "Data to 31 Oct 2026 · synthetic sample data · loaded 21 Nov 2026 07:40"."""
        parts = [f"Data to {ui.fmt_day(self.last_day)}"]
        if self.synthetic:
            parts.append("synthetic sample data")
        if self.loaded_at is not None:
            parts.append(f"loaded {ui.fmt_day(self.loaded_at.date())} {self.loaded_at:%H:%M}")
        return " · ".join(parts)


@dataclass(frozen=True)
class Filters:
    """The view every page draws: a period, its comparison a year earlier, and an area."""

    period: Period
    previous: Period | None  # None when the data do not reach back a year
    lcsp: str | None
    ward: str | None
    lcsp_name: str | None
    ward_name: str | None
    membership_fy: int  # the financial year whose ward-to-LCSP grouping applies
    data_end: dt.date

    @property
    def month_from(self) -> dt.date:
        """First day of the period's first month (the aggregates are monthly)."""
        return self.period.start.replace(day=1)

    @property
    def month_to(self) -> dt.date:
        """First day of the period's last month."""
        return self.period.end.replace(day=1)

    @property
    def below_partnership(self) -> bool:
        """True when an LCSP or ward is chosen (small-number suppression applies)."""
        return bool(self.lcsp or self.ward)

    @property
    def area_label(self) -> str:
        """"Aston ward (North LCSP)", "North LCSP" or "Whole partnership"."""
        if self.ward:
            return f"{self.ward_name} ward ({self.lcsp_name} LCSP)"
        if self.lcsp:
            return f"{self.lcsp_name} LCSP"
        return "Whole partnership"

    @property
    def area_label_md(self) -> str:
        """:attr:`area_label` for markdown (st.markdown, captions, titles, labels, help): the
        area names come from data files, so they are shown as text, never as markup."""
        return plain(self.area_label)


# --- pages --------------------------------------------------------------------------------

def _leave_legacy_page_mode() -> None:
    """Make a deep link on a freshly started server run through ``app.py``.

    Until ``st.navigation`` has run once in the server process, Streamlit treats a ``pages/``
    folder as the old automatic page list and runs a deep-linked page file on its own, without
    the app's frame. Switching that mode off (what ``st.navigation`` itself does) and rerunning
    makes the same URL go through ``app.py``: page hashes depend only on the URL path, so the
    rerun lands on the page that was asked for.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def ensure_session_defaults() -> None:
    """Idempotent setup every page calls first: routes deep links through the app's frame and
    gives the shared session keys their defaults."""
    _leave_legacy_page_mode()
    for key, value in ((K_MODE, MODE_FY), (K_LCSP, ALL), (K_WARD, ALL)):
        if key not in st.session_state:
            st.session_state[key] = value


class NoIncidentData(Exception):
    """The database has areas but no incidents yet."""


def current_filters() -> Filters:
    """The filters ``app.py`` resolved in this run."""
    filters = st.session_state.get(K_FILTERS)
    if filters is None:
        raise NoIncidentData()
    return filters


def current_context() -> DataContext | None:
    """Facts about the loaded data (None when no incidents are loaded)."""
    return st.session_state.get(K_CONTEXT)


class page_guard(contextlib.ContextDecorator):
    """Context manager and decorator: an exception becomes a short ``st.error``, never a
    traceback on screen; the traceback goes to the server log with a reference to quote.

    A database that is not answering (stopped, restarting, unreachable) or too slow gets its own
    message: it is not a fault of the dashboard, views already seen keep working from the cache,
    and the page works again once the database answers (no restart needed)."""

    def __init__(self, what: str = "this page") -> None:
        self.what = what
        self.failed = False  # True once an exception has been turned into a message

    def __enter__(self) -> "page_guard":
        self.failed = False
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        # Streamlit's st.stop/st.rerun are BaseExceptions and pass through untouched.
        if exc_type is None or not issubclass(exc_type, Exception):
            return False
        self.failed = True
        if isinstance(exc, NoIncidentData):
            st.info(f"No incident data is loaded yet, so {self.what} has nothing to show. "
                    f"Load data with `{LOAD_COMMAND}` (see the README).",
                    icon=":material/info:")
            return True
        reference = uuid.uuid4().hex[:8]
        kind = eng.failure_kind(exc)
        if kind in (eng.UNAVAILABLE, eng.TIMEOUT):
            # Expected during a database restart: one line in the log, not a traceback.
            logger.warning("database %s while showing %s (reference %s): %s",
                           "not answering" if kind == eng.UNAVAILABLE else "too slow",
                           self.what, reference, eng.error_summary(exc))
            if kind == eng.UNAVAILABLE:
                problem = "The database is not answering just now"
            else:
                problem = "The database took too long to answer"
            st.error(
                f"{problem}, so {self.what} cannot be shown. Views you have already opened "
                "still work from memory; this one will work again once the database answers, "
                f"so try again in a moment. (Reference {reference} in the server log.)",
                icon=":material/cloud_off:",
            )
            return True
        logger.error("could not show %s (reference %s)", self.what, reference,
                     exc_info=(exc_type, exc, tb))
        if isinstance(exc, sa.exc.DBAPIError):
            problem = "the database did not answer as expected"
        else:
            problem = "of an internal error"
        st.error(
            f"Sorry: {self.what} could not be shown because {problem}. Try again in a moment; "
            f"if it keeps happening, tell the dashboard's administrator and quote reference "
            f"**{reference}**.",
            icon=":material/error:",
        )
        return True


# --- the database -------------------------------------------------------------------------

def _shown_url(url: str) -> str:
    """The URL without its password, or a note when it does not parse."""
    try:
        return eng.safe_url(url)
    except Exception:
        return "(DATABASE_URL is not a valid database URL)"


def ensure_database(url: str, make_dataset: Callable[[], Any]) -> None:
    """Stop the script with a clear message unless the database has data.

    The embedded default database is built from ``make_dataset`` on first run, with a progress
    bar; any other empty database gets the command that loads it. A database that does not
    answer gets a message and a retry button; nothing about the failure is remembered, so the
    next run (a reload, the button) checks again and the app recovers when the database does.
    """
    try:
        generation = eng.database_generation(url)
        if st.session_state.get(K_DB_READY) == (url, generation):
            return
        ready = bootstrap.has_data(url)
    except Exception as exc:
        shown = _shown_url(url)
        if eng.failure_kind(exc) == eng.UNAVAILABLE:
            logger.warning("database not answering at %s: %s", shown, eng.error_summary(exc))
            st.error(
                f"The dashboard cannot reach its database at `{shown}` just now: the database "
                "is not answering (its server may be stopped or restarting). The dashboard "
                "opens as soon as it answers: try again in a moment. If this lasts, check that "
                "the database server is running and that DATABASE_URL is right.",
                icon=":material/cloud_off:",
            )
        else:
            logger.exception("database check failed for %s", shown)
            st.error(
                f"The dashboard cannot reach its database at `{shown}`. Check that the "
                "database server is running and that DATABASE_URL is right, then reload this "
                "page.",
                icon=":material/error:",
            )
        st.button("Try again", key="shell_database_retry", icon=":material/refresh:")
        st.stop()
    if not ready:
        if not eng.is_default_database(url):
            shown = _shown_url(url)
            st.title("No data yet")
            st.warning(
                f"The database at `{shown}` has no data. Load the sample data (or your own) "
                f"from the project folder, then reload this page:\n\n"
                f"```\nDATABASE_URL='{shown}' {LOAD_COMMAND}\n```",
                icon=":material/database:",
            )
            st.stop()
        _build_sample_database(url, make_dataset)
        connection.clear_caches()
        st.rerun()
    st.session_state[K_DB_READY] = (url, generation)


class SampleBuild:
    """The first-run build of the sample database, one per server process.

    It runs in its own thread, not in a visitor's script run: Streamlit stops a script when its
    visitor navigates away or closes the tab, and a build stopped that way was thrown away and
    started again by the next visitor. Sessions only watch :attr:`state`.
    """

    def __init__(self, url: str, make_dataset: Callable[[], Any]) -> None:
        self.state: dict[str, Any] = {"done": 0, "total": 1, "message": "Generating the sample data…",
                                      "finished": False, "failed": False}
        self._thread = threading.Thread(
            target=self._run, args=(url, make_dataset), name="sample-database-build", daemon=True
        )
        self._thread.start()

    def _progress(self, done: int, total: int, message: str) -> None:
        self.state.update(done=done, total=max(total, 1), message=message)

    def _run(self, url: str, make_dataset: Callable[[], Any]) -> None:
        try:
            bootstrap.build_database(url, make_dataset, progress=self._progress)
        except Exception:
            logger.exception("building the sample database failed")
            self.state["failed"] = True
        self.state["finished"] = True


@st.cache_resource(max_entries=2, show_spinner=False)
def _sample_build(url: str, _make_dataset: Callable[[], Any]) -> SampleBuild:
    return SampleBuild(url, _make_dataset)


def _build_sample_database(url: str, make_dataset: Callable[[], Any]) -> None:
    st.title("Setting up the dashboard")
    st.info(
        "First run: building the sample database (synthetic data for a Birmingham-like "
        "partnership). This happens once and takes a minute or two; the dashboard opens "
        "when it is ready.",
        icon=":material/hourglass_top:",
    )
    build = _sample_build(url, make_dataset)
    state = dict(build.state)
    st.progress(min(max(state["done"] / state["total"], 0.0), 1.0), text=state["message"])
    if state["failed"]:
        _sample_build.clear()  # the next reload tries again
        st.error(
            f"The sample database could not be built. Run `{LOAD_COMMAND}` in a terminal to see "
            "why, then reload this page.",
            icon=":material/error:",
        )
        st.stop()
    if not state["finished"]:
        time.sleep(1.0)
        st.rerun()
    _sample_build.clear()


# --- the data context ---------------------------------------------------------------------

def _truthy(value: str | None) -> bool:
    return str(value or "").strip().lower() in ("1", "true", "yes", "y")


def _month_end(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)


def _month_starts(first: dt.date, last: dt.date) -> tuple[dt.date, ...]:
    return tuple(Period(first, last, "").months()) if first <= last else ()


def load_context() -> DataContext | None:
    """Facts about the loaded data, from cached queries (None when no incidents are loaded)."""
    span = connection.cached(queries.load_data_range)
    if span["first_month"] is None:
        return None
    first, last, last_day = span["first_month"], span["last_month"], span["last_day"]
    data_end = periods.complete_months_end(last_day)
    if data_end < first:  # less than one complete month: use what there is
        data_end = last_day
    fy_periods: dict[int, Period] = {}
    for fy in range(periods.fy_start_year(data_end), periods.fy_start_year(first) - 1, -1):
        fy_periods[fy] = periods.year_to_date(fy, data_end)
    complete = [fy for fy, p in fy_periods.items() if p == periods.fy_period(fy)]
    areas = connection.cached(queries.load_areas)
    lcsp_rows = areas[areas["level"] == "lcsp"].sort_values("name")
    partnership = areas[areas["level"] == "partnership"]
    info = connection.cached(queries.load_dataset_info)
    imports = connection.cached(queries.load_imports, limit=1)
    loaded_at = None
    if not imports.empty and pd.notna(imports["loaded_at"].iloc[0]):
        loaded_at = pd.Timestamp(imports["loaded_at"].iloc[0]).to_pydatetime()
    return DataContext(
        first_month=first,
        last_month=last,
        last_day=last_day,
        data_end=data_end,
        fy_periods=fy_periods,
        default_fy=complete[0] if complete else next(iter(fy_periods)),
        months=_month_starts(first, data_end.replace(day=1)),
        lcsps=dict(zip(lcsp_rows["code"], lcsp_rows["name"])),
        partnership_name=str(partnership["name"].iloc[0]) if len(partnership) else "Partnership",
        synthetic=_truthy(info.get("synthetic")),
        loaded_at=loaded_at,
    )


def _membership(fy: int) -> pd.DataFrame:
    return connection.cached(queries.load_ward_membership, fy_start=fy)


# --- filters and the URL --------------------------------------------------------------------

def _default_months(ctx: DataContext) -> tuple[dt.date, dt.date]:
    months = ctx.months
    return (months[max(0, len(months) - DEFAULT_RANGE_MONTHS)], months[-1])


def _quote(value: str) -> str:
    """A value from the URL, safe to show in markdown (a code span, truncated)."""
    return code_span(value, _MAX_PARAM_LENGTH)


def _parse_month(text: str) -> dt.date:
    text = text.strip()
    if len(text) == 7:
        text += "-01"
    return dt.date.fromisoformat(text).replace(day=1)


def _url_params() -> dict[str, str]:
    return {k: st.query_params[k] for k in QUERY_KEYS if k in st.query_params}


def period_label(start: dt.date, end: dt.date, *, year_to_date: bool = False) -> str:
    """"2025/26", "2026/27 to 31 Oct 2026" (``year_to_date``), "Apr 2025 to Sep 2025" or
    "Apr 2025"."""
    whole = periods.fy_period(periods.fy_start_year(start))
    if start == whole.start and end == whole.end:
        return whole.label
    if year_to_date and start == whole.start and end < whole.end:
        return f"{whole.label} to {ui.fmt_day(end)}"
    first, last = start.replace(day=1), end.replace(day=1)
    if first == last:
        return ui.fmt_month(first)
    return f"{ui.fmt_month(first)} to {ui.fmt_month(last)}"


def _period_of_state(ctx: DataContext) -> Period:
    if st.session_state.get(K_MODE) == MODE_MONTHS:
        first, last = st.session_state[K_MONTHS]
        end = min(_month_end(last), ctx.data_end)
        return Period(first, end, period_label(first, end))
    return ctx.fy_periods[st.session_state[K_FY]]


def _apply_url(ctx: DataContext, params: dict[str, str]) -> list[str]:
    """Set the filter state from a link; returns a note for each value ignored."""
    state = st.session_state
    ignored: list[str] = []
    state[K_MODE], state[K_FY], state[K_LCSP], state[K_WARD] = MODE_FY, ctx.default_fy, ALL, ALL
    too_long = [k for k, v in params.items() if len(v) > _MAX_PARAM_LENGTH]
    for key in too_long:
        ignored.append(f"{key}={_quote(params.pop(key))} (too long)")

    if "from" in params or "to" in params:
        default_from, default_to = _default_months(ctx)
        try:
            first = _parse_month(params["from"]) if "from" in params else default_from
            last = _parse_month(params["to"]) if "to" in params else default_to
            if first not in ctx.months or last not in ctx.months:
                raise ValueError("outside the data")
            if first > last:
                raise ValueError("from is after to")
            state[K_MODE], state[K_MONTHS] = MODE_MONTHS, (first, last)
        except ValueError:
            shown = ", ".join(f"{k}={_quote(params[k])}" for k in ("from", "to") if k in params)
            ignored.append(f"{shown} (months must be YYYY-MM between "
                           f"{ctx.months[0]:%Y-%m} and {ctx.months[-1]:%Y-%m}, from before to)")
    elif "fy" in params:
        try:
            fy = periods.parse_fy(params["fy"])
            if fy not in ctx.fy_periods:
                raise ValueError("no data")
            state[K_FY] = fy
        except ValueError:
            ignored.append(f"fy={_quote(params['fy'])} (no data for that financial year)")

    ward = params.get("ward")
    if "lcsp" in params:
        if params["lcsp"] in ctx.lcsps:
            state[K_LCSP] = params["lcsp"]
        else:
            ignored.append(f"lcsp={_quote(params['lcsp'])} (not an LCSP of this partnership)")
    if ward is not None:
        fy = periods.fy_start_year(_period_of_state(ctx).end)
        members = _membership(fy)
        match = members[members["ward_code"] == ward]
        if match.empty or (state[K_LCSP] and match["lcsp_code"].iloc[0] != state[K_LCSP]):
            ignored.append(f"ward={_quote(ward)} (not a ward of the chosen LCSP in that year)")
        else:
            # A ward alone in a link brings its LCSP with it.
            state[K_LCSP] = match["lcsp_code"].iloc[0]
            state[K_WARD] = ward
    return ignored


def _validate_state(ctx: DataContext) -> None:
    """Bring session values that no longer fit the data (a new import) back to defaults."""
    state = st.session_state
    if state.get(K_MODE) not in (MODE_FY, MODE_MONTHS):
        state[K_MODE] = MODE_FY
    if state.get(K_FY) not in ctx.fy_periods:
        state[K_FY] = ctx.default_fy
    def valid(months) -> bool:
        return (isinstance(months, (tuple, list)) and len(months) == 2
                and months[0] in ctx.months and months[1] in ctx.months and months[0] <= months[1])

    months = state.get(K_MONTHS)
    if not valid(months):
        kept = state.get(K_MONTHS_KEPT)
        months = kept if valid(kept) else _default_months(ctx)
    state[K_MONTHS] = state[K_MONTHS_KEPT] = tuple(months)
    if state.get(K_LCSP) not in (ALL, *ctx.lcsps):
        state[K_LCSP] = ALL


def _filter_params(filters: Filters, mode: str) -> dict[str, str]:
    params: dict[str, str] = {}
    if mode == MODE_MONTHS:
        params["from"] = f"{filters.month_from:%Y-%m}"
        params["to"] = f"{filters.month_to:%Y-%m}"
    else:
        params["fy"] = periods.fy_of(filters.period.start)
    if filters.lcsp:
        params["lcsp"] = filters.lcsp
    if filters.ward:
        params["ward"] = filters.ward
    return params


def sync_query_params(params: dict[str, str], keys, synced_key: str) -> None:
    """Make the URL's ``keys`` say ``params`` (others of them removed, the rest of the URL left
    alone) and remember what was written under ``synced_key``, so a later run can tell a link
    the user followed or edited from the URL the page wrote itself."""
    for key in keys:
        if key in params:
            if st.query_params.get(key) != params[key]:
                st.query_params[key] = params[key]
        elif key in st.query_params:
            del st.query_params[key]
    st.session_state[synced_key] = dict(params)


def _write_url(params: dict[str, str]) -> None:
    sync_query_params(params, QUERY_KEYS, K_SYNCED)


def render_frame() -> Filters | None:
    """Draw the sidebar filters and freshness line; store and return the resolved Filters.

    Returns None (and stores None) when no incident data is loaded.
    """
    ensure_session_defaults()
    ctx = load_context()
    st.session_state[K_CONTEXT] = ctx
    if ctx is None:
        st.session_state[K_FILTERS] = None
        st.sidebar.caption("No incident data loaded yet.")
        return None

    url = _url_params()
    ignored: list[str] = []
    # A link (or an edited address) whose filters differ from what the frame last wrote sets
    # the view. An address with none of the keys (a page switch) keeps the session's view.
    if url and url != st.session_state.get(K_SYNCED):
        ignored = _apply_url(ctx, dict(url))
    _validate_state(ctx)
    if ignored:
        st.warning("Some settings in the link were not used: " + "; ".join(ignored) + ".",
                   icon=":material/link_off:")

    with st.sidebar:
        st.subheader("Filters")
        st.radio("Period", (MODE_FY, MODE_MONTHS), key=K_MODE, horizontal=True,
                 help="A financial year (April to March) or a range of whole months.")
        if st.session_state[K_MODE] == MODE_FY:
            st.selectbox("Financial year", tuple(ctx.fy_periods), key=K_FY,
                         format_func=lambda fy: ctx.fy_periods[fy].label)
        else:
            st.select_slider("Months", ctx.months, key=K_MONTHS, format_func=ui.fmt_month)
        period = _period_of_state(ctx)
        membership_fy = periods.fy_start_year(period.end)
        members = _membership(membership_fy)
        st.selectbox("LCSP", (ALL, *ctx.lcsps), key=K_LCSP,
                     format_func=lambda code: ctx.lcsps[code] if code else "All LCSPs",
                     help="Local Community Safety Partnership.")
        lcsp = st.session_state[K_LCSP] or None
        wards = members[members["lcsp_code"] == lcsp] if lcsp else members.iloc[0:0]
        ward_names = dict(zip(wards["ward_code"], wards["ward_name"]))
        if st.session_state.get(K_WARD) not in (ALL, *ward_names):
            st.session_state[K_WARD] = ALL
        st.selectbox("Ward", (ALL, *ward_names), key=K_WARD, disabled=not lcsp,
                     format_func=lambda code: ward_names[code] if code else "All wards",
                     help="Choose an LCSP first; wards as grouped in the period's year.")
        ward = st.session_state[K_WARD] or None
        st.caption(ctx.freshness())

    previous = period.previous_year()
    previous = Period(previous.start, previous.end, period_label(
        previous.start, previous.end, year_to_date=st.session_state[K_MODE] == MODE_FY))
    filters = Filters(
        period=period,
        previous=previous if previous.start >= ctx.first_month else None,
        lcsp=lcsp,
        ward=ward,
        lcsp_name=ctx.lcsps.get(lcsp) if lcsp else None,
        ward_name=ward_names.get(ward) if ward else None,
        membership_fy=membership_fy,
        data_end=ctx.data_end,
    )
    _write_url(_filter_params(filters, st.session_state[K_MODE]))
    st.session_state[K_FILTERS] = filters
    return filters
