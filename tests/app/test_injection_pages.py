"""Hostile links and typing through app.py with AppTest, and hostile text in the data.

- Every URL query parameter a page reads (the frame's fy/from/to/lcsp/ward, and each page's own
  whitelisted keys, found in the page modules so a new one is covered too) is given each
  injection payload: the page draws without an exception or an error, the values are ignored
  (a warning names them where the page checks them itself; Streamlit drops bad values of widgets
  bound to the URL), the link is rewritten to valid values, and the data are unchanged.
- Typed text (the fund register search, the load page's options) takes the same payloads.
- Text from data files (area names, category labels, event names, KPI labels, board names,
  actions, fund bids and returns, file names) carrying HTML and markdown payloads is shown as
  text: no element that renders markdown holds a live link or image from it, no element drawn
  with ``unsafe_allow_html`` (or ``st.html``) holds its raw tags, and map tooltips are text.
  Pages escape such text with :func:`kpis.text_safety.plain` (``html.escape`` inside raw
  HTML); ``st.table``, which renders its cells as markdown, is checked cell by cell.
"""

from __future__ import annotations

import html
import importlib
import json
import os
import re
import shutil
import string
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from google.protobuf.json_format import MessageToDict
from streamlit.testing.v1 import AppTest

from data_access import engine as eng
from data_access import schema
from pages.common import shell
from tests.app.test_fund_page import copy_with_fund

ROOT = Path(__file__).resolve().parents[2]
PAYLOADS = {
    "or_1_eq_1": "' OR 1=1 --",
    "drop_table": "x');DROP TABLE incidents;--",
    "long": "x" * 10_000,
}
SHELL_KEYS = ("fy", "lcsp", "ward")  # "from"/"to" override "fy": tested on their own
# The URL keys each page reads: its own whitelist constants, and widgets bound to the URL.
PAGE_KEY_CONSTANTS = {"pages/explorer.py": "QUERY_KEYS", "pages/asb_calendar.py": "QUERY_KEYS",
                      "pages/boards.py": "URL_KEYS", "pages/fund.py": "URL_KEYS"}
# Pages that name the ignored value itself in their warning, as key=`value` (the hotspot
# map's widgets bound to the URL drop a bad value silently).
NAMES_VALUES = {"pages/explorer.py", "pages/asb_calendar.py", "pages/boards.py", "pages/fund.py"}


def page_keys(path: str) -> tuple[str, ...]:
    """The query parameters ``path`` reads: its key constant plus its URL-bound widgets."""
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    keys = list(getattr(module, PAGE_KEY_CONSTANTS[path], ())) if path in PAGE_KEY_CONSTANTS \
        else []
    source = (ROOT / path).read_text(encoding="utf-8")
    for constant in re.findall(r'key=(K_[A-Z_]+),\s*bind="query-params"', source):
        keys.append(getattr(module, constant))
    return tuple(keys)


PAGES_WITH_KEYS = ("pages/explorer.py", "pages/asb_calendar.py", "pages/boards.py",
                   "pages/fund.py", "pages/hotspots.py")


# --- the database ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fund_url(sample_db_url, tmp_path_factory) -> str:
    """The sample with the fund tables (the fund page needs them)."""
    return copy_with_fund(sample_db_url, tmp_path_factory.mktemp("injection_pages"))


def incident_count(url: str) -> int:
    reader = eng.reader_engine(url)
    try:
        with reader.connect() as conn:
            assert sa.inspect(conn).has_table("incidents")
            return conn.execute(sa.select(sa.func.count()).select_from(schema.incidents)
                                ).scalar_one()
    finally:
        reader.dispose()


@pytest.fixture
def app_db(app_database, fund_url, monkeypatch) -> str:
    """The app reads the fund copy; afterwards its incidents are all still there."""
    monkeypatch.setenv("DATABASE_URL", fund_url)
    before = incident_count(fund_url)
    yield fund_url
    assert incident_count(fund_url) == before > 0


# --- helpers --------------------------------------------------------------------------------

def open_page(path: str, params: dict[str, str] | None = None) -> AppTest:
    """The app opened at ``path`` with ``params`` in its address, as a followed link opens it
    (widgets bound to the URL read it when they are first drawn)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for key, value in (params or {}).items():
        at.query_params[key] = value
    at.switch_page(path)
    return at.run()


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def warnings(at: AppTest) -> str:
    return " ".join(w.value for w in at.warning)


def shown(value: str) -> str:
    """How the frame and the explorer quote a value they ignored (a code span, 40 characters)."""
    return "`" + value.replace("`", "").replace("\n", " ")[:40] + "`"


# --- links ----------------------------------------------------------------------------------

def test_every_url_key_of_the_pages_is_covered():
    assert shell.QUERY_KEYS == ("fy", "from", "to", "lcsp", "ward")
    keys = {path: page_keys(path) for path in PAGES_WITH_KEYS}
    assert all(keys.values()), keys
    assert len(keys["pages/hotspots.py"]) >= 5  # its widgets bound to the URL
    # A page that starts reading the URL must be added to PAGES_WITH_KEYS.
    reading = {f"pages/{p.name}" for p in (ROOT / "pages").glob("*.py")
               if re.search(r'query_params|bind="query-params"', p.read_text(encoding="utf-8"))}
    assert reading <= set(PAGES_WITH_KEYS), reading - set(PAGES_WITH_KEYS)


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_the_frames_filters_ignore_a_hostile_link(app_db, payload):
    at = open_page("pages/overview.py", {key: payload for key in SHELL_KEYS})
    assert_clean(at)
    text = warnings(at)
    for key in SHELL_KEYS:
        assert f"{key}={shown(payload)}" in text, text
    assert at.query_params["fy"] == "2025/26"  # the default view, written back to the link
    assert "lcsp" not in at.query_params and "ward" not in at.query_params

    at = open_page("pages/overview.py", {"from": payload, "to": payload})
    assert_clean(at)
    assert f"from={shown(payload)}" in warnings(at) and f"to={shown(payload)}" in warnings(at)
    assert "from" not in at.query_params and at.query_params["fy"] == "2025/26"


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
@pytest.mark.parametrize("path", PAGES_WITH_KEYS)
def test_each_pages_own_link_keys_ignore_a_hostile_link(app_db, path, payload):
    keys = page_keys(path)
    at = open_page(path, {key: payload for key in (*SHELL_KEYS, *keys)})
    assert_clean(at)
    text = warnings(at)
    if path == "pages/hotspots.py":
        # Widgets bound to the URL: Streamlit accepts only an option's label and drops anything
        # else, silently; the page draws its defaults.
        assert at.get("button_group")[0].value == "index"
        assert at.selectbox(key="hotspots_what").value == "all"
    else:
        for key in keys:
            # The explorer lists each unknown source or category of a list on its own (a
            # value too long to read is ignored whole).
            listed = key in ("ex_sources", "ex_cats") and len(payload) <= 400
            named = (f"{key}: {shown(payload)}" if listed else f"{key}={shown(payload)}") \
                if path in NAMES_VALUES else key
            assert named in text, (key, text[:500])
    # No payload survives in the link for a key the page used (a bound widget that is not
    # drawn in this view leaves its parameter alone, unused).
    used = [k for k in (*SHELL_KEYS, *keys) if not k.startswith("hotspots_")
            or k in ("hotspots_view", "hotspots_what", "hotspots_cell_size")]
    assert payload not in [at.query_params.get(k) for k in used], dict(at.query_params)


@pytest.mark.parametrize("payload", [*PAYLOADS.values(), "%", "_", "%_%"],
                         ids=[*PAYLOADS.keys(), "percent", "underscore", "both"])
def test_the_fund_register_search_takes_any_text(app_db, payload):
    # 2017/18 as published has a bid "100%" funded, and no text with "_".
    at = open_page("pages/fund.py", {"fund_year": "2017/18", "fund_section": "decisions"})
    assert_clean(at)
    table = next(d.value for d in at.dataframe if "Bid" in d.value.columns)
    expected = [row["Bid"] for _, row in table.iterrows()
                if payload.lower() in " ".join(str(v).lower() for v in row.values)]
    assert bool(expected) == (payload == "%")
    at.text_input(key="fund_register_search").set_value(payload).run()
    assert_clean(at)
    found = next(d.value for d in at.dataframe if "Bid" in d.value.columns)
    assert list(found["Bid"]) == expected  # literal text: "%" and "_" are not wildcards


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_the_load_pages_options_take_any_text(app_db, payload):
    at = open_page("pages/admin.py")
    assert_clean(at)
    fields = {"areas": ("admin_fy_from", "admin_fy_to", "admin_lcsp_column"),
              "boundaries": ("admin_code_field", "admin_name_field"),
              "police-uk-counts": ("admin_counts_area",)}
    for kind, keys in fields.items():
        at.selectbox(key="admin_kind").set_value(kind).run()
        for key in keys:
            at.text_input(key=key).set_value(payload)
        at.run()
        assert_clean(at)
        if kind == "areas":  # the two years are checked and the problem is named
            text = warnings(at)
            assert "First financial year: write a financial year like 2025/26" in text
            assert "Last financial year" in text
        assert not [b for b in at.button if b.key in ("admin_check", "admin_import")
                    and not b.disabled]  # nothing to run without a file


# --- text from data files -------------------------------------------------------------------

# One text holding the three payloads of the issue and a remote image. It starts with a word:
# a line that starts with "<script" is a raw HTML block, which Streamlit shows as plain text, and
# that would hide the links after it.
HOSTILE = ("Hostile <script>alert(1)</script> <img src=x onerror=alert(1)> "
           "[click](javascript:alert(1)) ![p](https://example.invalid/p.png)")
RAW_TAGS = ("<script>", "<img src=x onerror")
MARKERS = ("javascript:", "example.invalid")  # targets that can only have come from HOSTILE
# Proto fields that Streamlit renders as markdown (bodies, labels, help, metric parts).
MARKDOWN_FIELDS = {"body", "label", "help", "delta", "deltaDescription", "caption"}
PLAIN_TYPES = {"text", "code", "json", "html"}  # checked as plain or raw HTML instead


@pytest.fixture(scope="module")
def hostile_url(fund_url, tmp_path_factory) -> str:
    """The fund copy with HOSTILE in every text field that comes from a data file."""
    target = tmp_path_factory.mktemp("hostile") / "hostile.duckdb"
    shutil.copyfile(os.path.realpath(eng.duckdb_path(fund_url)), target)
    url = f"duckdb:///{target}"
    a = schema.areas
    with eng.write_transaction(url) as conn:
        conn.execute(a.update().where(a.c.level.in_(("partnership", "lcsp", "ward")))
                     .values(name=HOSTILE))
        conn.execute(schema.categories.update().values(label=HOSTILE))
        conn.execute(schema.events.update().values(
            name=sa.func.concat(HOSTILE, " ", sa.cast(schema.events.c.event_id, sa.String))))
        conn.execute(schema.actions.update().values(title=HOSTILE, owner=HOSTILE, notes=HOSTILE))
        conn.execute(schema.fund_projects.update().values(
            name=HOSTILE, provider=HOSTILE, priority=HOSTILE, decision_reason=HOSTILE))
        conn.execute(schema.fund_returns.update().values(name=HOSTILE))
        conn.execute(schema.fund_years.update().values(notes=HOSTILE))
        conn.execute(schema.imports.update().values(file_name=HOSTILE))
        conn.execute(schema.source_months.update().values(note=HOSTILE))
        city = conn.execute(sa.select(a.c.code).where(a.c.level == "partnership")).scalar_one()
        # A KPI defined in the database with hostile text, on a known board and on a new one,
        # and one whose unit is hostile (the registry reports it).
        for kpi_id, label, board, unit in (
                ("hostile_kpi", HOSTILE, "Violence Against Women and Girls", "count"),
                ("hostile_board", "Board KPI", HOSTILE, "count"),
                ("hostile_unit", "Unit KPI", "Violence Reduction", HOSTILE)):
            conn.execute(schema.kpi_definitions.insert().values(
                kpi_id=kpi_id, label=label, board=board, unit=unit, polarity="higher_is_better",
                frequency="monthly", description=HOSTILE, source=HOSTILE))
            conn.execute(schema.kpi_values.insert(), [
                {"kpi_id": kpi_id, "area_code": city, "period_start": month,
                 "period_grain": "month", "value": 40.0 + n, "is_provisional": False}
                for n, month in enumerate(
                    m.date() for m in pd.date_range("2024-04-01", "2026-10-01", freq="MS"))])
    return url


def _strings(value, path=()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*path, key))
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, path)
    elif isinstance(value, str):
        yield path, value


_ESCAPABLE = set(string.punctuation)
_LINK = re.compile(r"!?\[[^\[\]]*\]\(\s*<?([^\s)>]*)")
_AUTOLINK = re.compile(r"<([a-z][a-z0-9+.-]*:[^<>\s]*)>", re.I)
_BARE = re.compile(r"(?:https?://|www\.)[^\s<>]*", re.I)


def live_targets(markdown: str) -> list[str]:
    """Targets of the links and images that ``markdown`` would render: escaped characters,
    code spans and blocks of raw HTML are inert."""
    out, i = [], 0
    while i < len(markdown):  # blank out backslash-escaped punctuation
        if markdown[i] == "\\" and i + 1 < len(markdown) and markdown[i + 1] in _ESCAPABLE:
            out.append("  ")
            i += 2
        else:
            out.append(markdown[i])
            i += 1
    text = re.sub(r"(`+)(.+?)\1", lambda m: " " * len(m.group(0)), "".join(out), flags=re.S)
    text = "\n\n".join(b for b in re.split(r"\n\s*\n", text)
                       if not re.match(r"\s{0,3}<[a-zA-Z/]", b))
    return list(dict.fromkeys(_LINK.findall(text) + _AUTOLINK.findall(text)
                              + _BARE.findall(text)))


def hostile_markup(at: AppTest) -> list[str]:
    """Every place the app draws text from HOSTILE as live markup, described."""
    found = []
    for node in at._tree:
        proto = getattr(node, "proto", None)
        if proto is None:
            continue
        kind = getattr(node, "type", "")
        data = MessageToDict(proto)
        allow_html = bool(data.get("allowHtml")) or kind == "html"
        if kind == "deck_gl_json_chart" and HOSTILE[:20] in json.dumps(data):
            if "html" in json.loads(data.get("tooltip") or "{}"):
                found.append("deck_gl_json_chart: an HTML tooltip over data text")
        if kind == "table":  # st.table renders every header and cell as markdown
            frame = node.value
            for value in [*map(str, frame.columns), *map(str, frame.to_numpy().ravel())]:
                targets = [t for t in live_targets(value) if any(m in t for m in MARKERS)]
                if targets:
                    found.append(f"table cell: live {targets} in {value[:80]!r}")
        for path, value in _strings(data):
            field = path[-1] if path else ""
            if allow_html and any(tag in value for tag in RAW_TAGS):
                found.append(f"{kind}.{field}: raw HTML {value[:80]!r}")
            if kind in PLAIN_TYPES or (field not in MARKDOWN_FIELDS and not (
                    field == "options" and kind == "radio")):
                continue
            targets = [t for t in live_targets(value)
                       if any(m in t for m in MARKERS)]
            if targets:
                found.append(f"{kind}.{field}: live {targets} in {value[:80]!r}")
    return found


def test_the_markup_check_tells_live_text_from_escaped_text():
    from kpis.text_safety import plain

    assert "javascript:alert(1" in live_targets(f"**Area** · {HOSTILE}")
    assert "https://example.invalid/p.png" in live_targets(f"Notes: {HOSTILE}")
    assert live_targets(f"**Area** · {plain(HOSTILE)}") == []
    assert live_targets(f"`{HOSTILE}`") == []  # a code span
    assert live_targets(f"<div class='x'>{html.escape(HOSTILE)}</div>") == []  # raw HTML
    assert live_targets("see <https://example.invalid/x> or www.example.invalid") == [
        "https://example.invalid/x", "www.example.invalid"]


class LiveMarkup(AssertionError):
    """Text from the data drawn as live markup."""


LCSP = {"fy": "2025/26", "lcsp": "LCSP-N"}
# view: (page, link, extra step). Each draws text from the data files (area and board names,
# category labels, event names, KPI labels, descriptions and sources, fund notes and returns).
VIEWS = {
    "overview": ("pages/overview.py", LCSP, None),  # the area line; "By wards of <LCSP>"
    "explorer": ("pages/explorer.py", {**LCSP, "ex_rows": "category"}, None),
    "hotspots": ("pages/hotspots.py", LCSP, None),
    # The area's name (title), the category's label and the links to the other pages.
    "hotspots_detail": ("pages/hotspots.py", {"fy": "2025/26", "hotspots_view": "By area",
                                              "hotspots_level": "Ward", "hotspots_what": HOSTILE},
                        "hotspots_focus"),
    "asb_calendar": ("pages/asb_calendar.py", LCSP, None),  # the context lines
    # The names of the events overlapping rises.
    "asb_calendar_events": ("pages/asb_calendar.py", {"fy": "2025/26", "asb_threshold": "1.05"},
                            None),
    "asb_printable": ("pages/asb_calendar.py", {**LCSP, "asb_print": "1"}, None),  # heading
    # The table of rises with their events (st.table renders its cells as markdown).
    "asb_printable_rises": ("pages/asb_calendar.py", {"fy": "2025/26", "asb_print": "1",
                                                      "asb_threshold": "1.05"}, None),
    # KPI labels and descriptions (help), board labels, registry problems quoting a
    # kpi_definitions value.
    "boards": ("pages/boards.py", {"fy": "2025/26"}, None),
    "boards_detail": ("pages/boards.py", {"fy": "2025/26", "board_view": "detail",
                                          "board": "vawg"}, None),
    "boards_meeting": ("pages/boards.py", {"fy": "2025/26", "board_view": "meeting",
                                           "board": "vawg"}, "boards_meeting"),
    "fund_summary": ("pages/fund.py", {"fund_year": "2025/26", "fund_section": "summary"},
                     None),  # the year's notes
    # The next return's name (a metric's delta and a markdown line).
    "fund_returns": ("pages/fund.py", {"fund_year": "2026/27", "fund_section": "returns"}, None),
    "fund_register": ("pages/fund.py", {"fund_year": "2025/26", "fund_section": "decisions"},
                      None),
    "data_status": ("pages/data_status.py", {}, None),
    "admin": ("pages/admin.py", {}, None),
}


def _first_ward(url: str) -> str:
    reader = eng.reader_engine(url)
    try:
        with reader.connect() as conn:
            return conn.execute(sa.select(sa.func.min(schema.areas.c.code))
                                .where(schema.areas.c.level == "ward")).scalar_one()
    finally:
        reader.dispose()


def _proto_text(at: AppTest) -> str:
    return json.dumps([MessageToDict(n.proto) for n in at._tree
                       if getattr(n, "proto", None) is not None])


@pytest.mark.parametrize("view", VIEWS)
def test_text_from_data_files_is_never_live_markup(app_database, hostile_url, monkeypatch, view):
    monkeypatch.setenv("DATABASE_URL", hostile_url)
    path, params, step = VIEWS[view]
    at = open_page(path, params)
    assert_clean(at)
    problems = hostile_markup(at)
    shown_escaped = False
    if step == "boards_meeting":  # every slide, exceptions or not
        at.toggle(key="boards_exceptions_only").set_value(False).run()
        for _ in range(60):
            assert_clean(at)
            problems += hostile_markup(at)
            shown_escaped |= any("&lt;script&gt;" in m.value for m in at.markdown)
            following = [b for b in at.button if b.key == "boards_next"]
            if not following or following[0].disabled:
                break
            following[0].click().run()
        assert shown_escaped, "no slide showed the hostile KPI's label (escaped)"
    elif step == "hotspots_focus":  # a ward chosen, as a click on the map would choose it
        assert at.selectbox(key="hotspots_what").value.startswith("cat:")
        at.session_state["hotspots_focus"] = f"area:ward:{_first_ward(hostile_url)}"
        at.run()
        assert_clean(at)
        assert "Busiest locations here" in [m.value.strip("*") for m in at.markdown]
        problems += hostile_markup(at)
    # The hostile text reaches the view (else the test would prove nothing) ...
    assert HOSTILE[:20] in _proto_text(at) or shown_escaped, "the view shows no hostile text"
    # ... and never as live markup.
    if problems:
        raise LiveMarkup("\n".join(dict.fromkeys(problems)))
