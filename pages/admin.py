"""Administration: load data, assign users' roles, read the audit log (admins only).

**Load data**: an administrator uploads files, checks them, and imports them, without the
command line.

The page drives :func:`data_access.load.run_import`, the same code as
``python -m data_access.load``: choose a kind, upload the file(s) (no bigger than the server's
upload limit), download a template where the kind has one, then

- **Check**: a dry run that reads, validates and writes inside a transaction that is thrown
  away; every problem is listed (file, row, column, problem) and nothing changes;
- **Import**: the same in earnest, with a progress bar, then the summary (rows read, added,
  replaced, rejected) and fresh caches, so every page shows the new data on its next run.

Each import is one transaction: a file with any problem changes nothing. The imports log names
who loaded what: the signed-in user, or "local user" in the local demo mode. No traceback
reaches the page: an unexpected failure shows a short message with a reference, the detail going
to the server log.

**Users and roles**: give an e-mail address one role (an LCSP manager also their LCSPs), or take
it away; each change goes in the audit log. The last administrator cannot be removed here.

**Audit log** (DPA 2018 s.62): who viewed sensitive figures below partnership level, who
exported what, who loaded data and who changed access, newest first, with filters and a
download.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field

import pandas as pd
import streamlit as st

from data_access import access as access_store
from data_access import connection
from data_access import engine as eng
from data_access.importers import partner
from data_access.importers.common import ImportRejected, ImportSummary, Problem
from data_access.load import KINDS
from kpis import exports
from kpis.periods import parse_fy
from kpis.text_safety import code_span, plain
from kpis import access as roles
from pages.common import auth, shell, ui

logger = logging.getLogger("csp_dashboard")

LOCAL_USER = "local user"
K_KIND = "admin_kind"
K_FILES = "admin_files"
K_RESULT = "admin_result"
K_ACTION = "admin_action"  # "check" or "import", set by the buttons' callbacks
K_UPLOADER_ROUND = "admin_uploader_round"
PROBLEMS_SHOWN = 5_000
PARTNER_SOURCES = {
    "asb": "Police ASB calls for service (asb)",
    "council_asb": "Council ASB cases (council_asb)",
    "calls": "All police calls for service (calls)",
    "recorded_crime": "Police recorded crime with date and time (recorded_crime)",
    "": "Named in the file's own source column",
}
FILE_TYPES = {
    "police-uk": ["csv", "zip"],
    "police-uk-counts": ["csv", "xlsx", "zip"],
    "partner-incidents": ["csv", "xlsx", "zip"],
    "boundaries": ["geojson", "json", "zip"],
    "areas": ["csv", "xlsx"],
    "kpis": ["csv", "xlsx"],
    "fund": ["csv", "xlsx"],
    "events": ["csv", "xlsx", "json"],
}
KIND_LABELS = {
    "police-uk": "police.uk street-level crime",
    "police-uk-counts": "police.uk counts by LSOA and month",
    "partner-incidents": "Partner extract (calls, ASB cases)",
    "boundaries": "Ward or LSOA boundaries (GeoJSON)",
    "areas": "LSOA to ward to LCSP lookup, with residents",
    "kpis": "KPI return (values, outputs and actions)",
    "fund": "Community Safety Fund spend or allocations",
    "events": "Calendar events",
}
KIND_NOTES = {
    "police-uk": (
        "The monthly street-level CSVs from data.police.uk, any force: one or more "
        "`YYYY-MM-<force>-street.csv` files, or the zip the site gives. Importing a month again "
        "replaces that force's month."),
    "police-uk-counts": (
        "Counts by LSOA, month and police.uk crime type: columns lsoa_code, category, "
        "month_str (2025-01) or year and month, crime_count, and month_complete (FALSE for a "
        "month police.uk published short). A file replaces the months it covers for its area."),
    "partner-incidents": (
        "Calls for service or ASB cases with a date (and time when known), one row per call or "
        "case. Download the template for the layout. An extract replaces its source's rows in "
        "the period it covers."),
    "boundaries": (
        "ONS GeoJSON of wards or LSOAs (2011 or 2021 codes), WGS84 or British National Grid."),
    "areas": (
        "One row per LSOA: lsoa_code, ward_code, ward_name, the LCSP (or locality) it belongs "
        "to, and population. Give the first financial year of the grouping when it changes."),
    "kpis": "KPI values (kpi_id, area_code, period, value...) or outputs and actions.",
    "fund": "The finance team's spend by project and month, or allocations by project.",
    "events": "Events (name, kind, start_date, end_date, ...), or the GOV.UK bank holidays JSON.",
}


def signed_in_user() -> str:
    """Who is loading: the signed-in user's e-mail, or "local user" in the local demo mode."""
    access = auth.current()
    return LOCAL_USER if access.mode == "demo" else access.email[:120]


def upload_limit_mb() -> int:
    """The server's upload limit in MB (``[server] maxUploadSize`` in config.toml)."""
    try:
        return int(st.get_option("server.maxUploadSize"))
    except Exception:
        return 200


@dataclass
class ImportResult:
    """What the last Check or Import did, kept in the session so reruns still show it."""

    mode: str  # check | import
    kind: str
    files: list[str]
    summary: ImportSummary | None = None
    problems: list[Problem] = field(default_factory=list)
    rows_read: int = 0
    error: str | None = None  # an unexpected failure's message (with a reference)
    fault: str | None = None  # the database refused or went away: what happened, for the user
    at: dt.datetime = field(default_factory=dt.datetime.now)


# --- settings -----------------------------------------------------------------------------

def _fy_option(label: str, key: str, help_text: str) -> tuple[int | None, str | None]:
    text = st.text_input(label, key=key, placeholder="e.g. 2025/26", help=help_text).strip()
    if not text:
        return None, None
    try:
        return parse_fy(text), None
    except ValueError:
        return None, (f"{label}: write a financial year like 2025/26 (found "
                      f"{code_span(text, 20)}).")


def show_options(kind: str) -> tuple[dict, list[str]]:
    """The options of ``kind`` (those the command line takes as flags); returns them and any
    note on a value that cannot be used."""
    options: dict = {}
    errors: list[str] = []
    if kind == "partner-incidents":
        c1, c2, c3 = st.columns([2, 1, 1])
        source = c1.selectbox("Source", tuple(PARTNER_SOURCES), key="admin_partner_source",
                              format_func=PARTNER_SOURCES.get,
                              help="What the extract holds. asb feeds the ASB pages and KPIs.")
        if source:
            options["source"] = source
        first = c2.date_input("Covers from", value=None, key="admin_period_from",
                              format="DD/MM/YYYY", help="Default: the file's first date.")
        last = c3.date_input("Covers to", value=None, key="admin_period_to",
                             format="DD/MM/YYYY", help="Default: the file's last date.")
        if first:
            options["period_from"] = first
        if last:
            options["period_to"] = last
        if first and last and first > last:
            errors.append("Covers from is after Covers to.")
    elif kind == "police-uk-counts":
        area = st.text_input("Area", key="admin_counts_area", max_chars=80,
                             help="The area the file covers (default: its borough column).")
        if area.strip():
            options["area"] = area.strip()
    elif kind == "boundaries":
        c1, c2, c3 = st.columns(3)
        level = c1.radio("Level", ("", "ward", "lsoa"), key="admin_boundary_level",
                         format_func=lambda v: {"": "From the codes", "ward": "Wards",
                                                "lsoa": "LSOAs"}[v], horizontal=True)
        if level:
            options["level"] = level
        code = c2.text_input("Code property", key="admin_code_field", max_chars=40,
                             help="Default: found from the file (e.g. LSOA21CD).")
        name = c3.text_input("Name property", key="admin_name_field", max_chars=40)
        if code.strip():
            options["code_field"] = code.strip()
        if name.strip():
            options["name_field"] = name.strip()
    elif kind == "areas":
        c1, c2, c3 = st.columns(3)
        with c1:
            fy_from, error = _fy_option("First financial year", "admin_fy_from",
                                        "The first year this grouping of wards applies.")
        errors += [error] if error else []
        with c2:
            fy_to, error = _fy_option("Last financial year", "admin_fy_to",
                                      "Leave empty while it still applies.")
        errors += [error] if error else []
        lcsp_column = c3.text_input("LCSP column", key="admin_lcsp_column", max_chars=40,
                                    help="Default: a column named lcsp or locality.")
        if fy_from is not None:
            options["fy_from"] = fy_from
        if fy_to is not None:
            options["fy_to"] = fy_to
        if lcsp_column.strip():
            options["lcsp_column"] = lcsp_column.strip()
    elif kind == "fund":
        fund_kind = st.radio("The file holds", ("spend", "allocations"), key="admin_fund_kind",
                             format_func=str.capitalize, horizontal=True)
        options["fund_kind"] = fund_kind
    elif kind == "events":
        division = st.selectbox("Bank holidays of", ("england-and-wales", "scotland",
                                                     "northern-ireland"),
                                key="admin_division", help="For the GOV.UK JSON file only.")
        options["division"] = division
    return options, errors


def render_template(kind: str, options: dict) -> None:
    """A template download for kinds that have one."""
    spec = KINDS[kind]
    if spec.template is None:
        return
    try:
        text = spec.template(options)
    except Exception:
        logger.exception("template for %s failed", kind)
        return
    st.download_button(
        "Download a template (CSV)", data=text.encode("utf-8-sig"),
        file_name=f"template_{kind.replace('-', '_')}.csv", mime="text/csv",
        key=f"admin_template_{kind}", icon=":material/download:")


# --- running ------------------------------------------------------------------------------

def problems_frame(problems: list[Problem]) -> pd.DataFrame:
    """Every problem as a row, by file and row: File, Row, Column, Problem, Found."""
    problems = sorted(problems, key=lambda p: (p.file, p.row if p.row is not None else -1))
    return pd.DataFrame({
        "File": [p.file for p in problems],
        "Row": pd.array([p.row for p in problems], dtype="Int64"),
        "Column": [p.column or "" for p in problems],
        "Problem": [p.message for p in problems],
        "Found": [p.value if p.value is not None else "" for p in problems],
    })


def run(mode: str, kind: str, uploads: list[tuple[str, bytes]], options: dict,
        loaded_by: str) -> ImportResult:
    """Check (``mode`` "check") or import the uploads, with a progress bar; never raises."""
    result = ImportResult(mode, kind, [name for name, _ in uploads])
    verb = "Checking" if mode == "check" else "Importing"
    bar = st.progress(0.0, text=f"{verb} {len(uploads)} file{'s' if len(uploads) != 1 else ''}…")

    def progress(done: int, total: int, message: str) -> None:
        bar.progress(min(max(done / max(total, 1), 0.0), 1.0), text=f"{verb}: {message}")

    options = {**options, "max_bytes": upload_limit_mb() * 1024 * 1024}
    try:
        result.summary = _run_import(kind, uploads, options, loaded_by, progress,
                                     dry_run=mode == "check")
    except ImportRejected as exc:
        result.problems = list(exc.problems)
        result.rows_read = exc.rows_read
    except eng.DatabaseFault as exc:  # read-only, or not answering: say so, nothing changed
        logger.warning("%s of %s: %s", mode, kind, exc, exc_info=exc)
        result.fault = str(exc)
    except Exception as exc:  # never a traceback on screen; the detail goes to the log
        reference = uuid.uuid4().hex[:8]
        logger.error("%s of %s failed (reference %s)", mode, kind, reference, exc_info=exc)
        result.error = reference
    finally:
        bar.empty()
    if result.summary is not None and mode == "import":
        auth.audit("import", "admin", f"imported {kind}: {result.summary.rows_added:,} rows added, "
                   f"{result.summary.rows_replaced:,} replaced",
                   file_name=", ".join(result.files)[:200], rows=result.summary.rows_read)
        connection.clear_caches()  # every page reads the new data on its next run
    return result


def _run_import(kind, uploads, options, loaded_by, progress, dry_run) -> ImportSummary:
    # Imported here so that a test can replace it; the page never touches SQL itself.
    from data_access.load import run_import

    return run_import(kind, uploads, url=connection.current_url(), loaded_by=loaded_by,
                      options=options, progress=progress, dry_run=dry_run)


# --- render -------------------------------------------------------------------------------

def render_result(result: ImportResult) -> None:
    """The outcome of the last Check or Import."""
    what = "Check" if result.mode == "check" else "Import"
    files = ", ".join(plain(name) for name in result.files)  # names chosen by whoever made them
    if result.fault:
        st.error(f"{what} of {files} could not be completed: {plain(result.fault)}",
                 icon=":material/cloud_off:")
        return
    if result.error:
        st.error(
            f"{what} of {files} could not be completed because of an internal error; nothing "
            "was changed. Try again; if it keeps happening, tell the dashboard's administrator "
            f"and quote reference **{result.error}**.", icon=":material/error:")
        return
    if result.problems:
        rows = len({(p.file, p.row) for p in result.problems if p.row is not None})
        n = len(result.problems)
        where = f" in {rows:,} row{'s' if rows != 1 else ''}" if rows else ""
        read = f" of the {result.rows_read:,} rows read" if rows and result.rows_read else ""
        st.error(
            f"**{n:,} problem{'s' if n != 1 else ''} found** in {files}{where}{read}. Nothing "
            "was imported and nothing was changed: correct the file and try again.",
            icon=":material/error:")
        table = problems_frame(result.problems)
        shown = table.head(PROBLEMS_SHOWN)
        st.dataframe(shown, hide_index=True, width="stretch", key="admin_problems",
                     column_config={"Row": st.column_config.NumberColumn(format="%d")})
        if len(table) > PROBLEMS_SHOWN:
            st.caption(f"The first {PROBLEMS_SHOWN:,} problems are shown; the download has all "
                       f"{len(table):,}.")
        st.download_button("Download the problems (CSV)", data=exports.to_csv_bytes(table),
                           file_name="import_problems.csv", mime="text/csv",
                           key="admin_problems_download", icon=":material/download:")
        return
    summary = result.summary
    if summary is None:
        return
    if result.mode == "check":
        st.success(f"**{files}** passed every check: importing would read "
                   f"{summary.rows_read:,} rows, add {summary.rows_added:,} and replace "
                   f"{summary.rows_replaced:,}. Nothing has been changed yet.",
                   icon=":material/task_alt:")
    else:
        st.success(f"**Imported {files}.** Every page now shows the new data.",
                   icon=":material/task_alt:")
    cols = st.columns(4)
    for col, (label, value) in zip(cols, (("Rows read", summary.rows_read),
                                          ("Rows added", summary.rows_added),
                                          ("Rows replaced", summary.rows_replaced),
                                          ("Rows rejected", summary.rows_rejected))):
        col.metric(label, f"{value:,}", border=True)
    if summary.period_from is not None:
        st.markdown(f"**Period:** {summary.period_from:%d %b %Y} to {summary.period_to:%d %b %Y}")
    details = [d for d in summary.details if not d.startswith("dry run")]
    if details:
        # Details and warnings name the files and sheets read: shown as text.
        st.markdown("\n".join(f"- {plain(d)}" for d in details))
    for warning in summary.warnings:
        st.warning(plain(warning), icon=":material/warning:")


def render_admin_page() -> None:
    """The Administration page: loading, users and roles, the audit log."""
    st.title("Administration")
    sections = [("Load data", render_load_data)]
    if auth.can("manage_access"):
        sections.append(("Users and roles", render_users))
    if auth.can("read_audit"):
        sections.append(("Audit log", render_audit_log))
    for tab, (name, render) in zip(st.tabs([name for name, _ in sections]), sections):
        # One section failing (the access store unreachable, say) leaves the others working.
        with tab, shell.page_guard(f"the {name} section"):
            render()


def render_load_data() -> None:
    """Loading files: choose the kind, upload, check, import."""
    st.markdown(
        "Load your partnership's own files: police.uk downloads, partner extracts, boundaries "
        "and lookups, KPI returns, fund spend and events. **Check** first: it lists every "
        "problem and changes nothing. **Import** writes the files in one step: a file with any "
        "problem changes nothing.")
    loaded_by = signed_in_user()
    state = st.session_state
    state.setdefault(K_KIND, "police-uk")
    state.setdefault(K_UPLOADER_ROUND, 0)
    if state[K_KIND] not in KINDS:
        state[K_KIND] = "police-uk"

    kind = st.selectbox("What are you loading?", tuple(KINDS), key=K_KIND,
                        format_func=lambda k: KIND_LABELS.get(k, KINDS[k].help))
    st.caption(KIND_NOTES.get(kind, KINDS[kind].help))
    options, option_errors = show_options(kind)
    if kind == "partner-incidents":
        with st.expander("The layout of a partner extract"):
            st.dataframe(pd.DataFrame(partner.layout(), columns=["Column", "Needed", "What"]),
                         hide_index=True, width="stretch")
    render_template(kind, options)
    limit = upload_limit_mb()
    files = st.file_uploader(
        f"Files ({', '.join('.' + t for t in FILE_TYPES[kind])}; up to {limit:,} MB each)",
        type=FILE_TYPES[kind], accept_multiple_files=True,
        key=f"{K_FILES}_{kind}_{state[K_UPLOADER_ROUND]}")
    for message in option_errors:
        st.warning(message, icon=":material/warning:")
    ready = bool(files) and not option_errors
    c1, c2, c3 = st.columns([1, 1, 4])
    # Clicks are kept by callbacks: a button's own return value does not always reach a page
    # script run through st.navigation (a run may restart once first; seen with AppTest).
    c1.button("Check", key="admin_check", disabled=not ready, icon=":material/rule:",
              help="Read and validate everything; nothing is written.",
              on_click=state.__setitem__, args=(K_ACTION, "check"))
    c2.button("Import", key="admin_import", disabled=not ready, type="primary",
              icon=":material/upload:", help="Check, then write, in one step.",
              on_click=state.__setitem__, args=(K_ACTION, "import"))
    c3.caption(f"Loaded by **{plain(loaded_by)}** into "
               f"`{eng.safe_url(connection.current_url())}`.")
    action = state.pop(K_ACTION, None)
    if action and ready:
        uploads = [(f.name, f.getvalue()) for f in files]
        state[K_RESULT] = run(action, kind, uploads, options, loaded_by)
        if action == "import" and state[K_RESULT].summary is not None:
            # Start again with an empty uploader (the same files are not loaded twice by a
            # second click) and a sidebar that knows the new data.
            state[K_UPLOADER_ROUND] += 1
            st.rerun()
    result = state.get(K_RESULT)
    if result is not None and result.kind == kind:
        st.subheader("Result of the last " + ("check" if result.mode == "check" else "import"))
        render_result(result)


# --- users and roles ---------------------------------------------------------------------------

K_USER_EMAIL = "admin_user_email"
K_USER_ROLE = "admin_user_role"
K_USER_LCSPS = "admin_user_lcsps"
K_USER_NAME = "admin_user_name"
K_USER_MESSAGE = "admin_user_message"
K_REVOKE = "admin_revoke_email"


def _assign() -> None:
    """The Save button's callback: validate, write, say what happened."""
    state = st.session_state
    me = auth.current()
    try:
        email = roles.normalise_email(state.get(K_USER_EMAIL, ""))
    except ValueError:
        state[K_USER_MESSAGE] = ("error", "Enter one e-mail address, e.g. name@council.gov.uk.")
        return
    role = state.get(K_USER_ROLE)
    lcsps = list(state.get(K_USER_LCSPS) or []) if role == "lcsp_manager" else []
    engine = auth.store_engine()
    if (email == me.email and role != "admin"
            and access_store.count_admins(engine) <= 1):
        state[K_USER_MESSAGE] = ("error", "You are the last administrator: give someone else "
                                          "the admin role first.")
        return
    try:
        access_store.assign_role(engine, email, role, lcsps=lcsps, granted_by=me.email,
                                 display_name=str(state.get(K_USER_NAME) or "")[:200] or None,
                                 granted_by_role=me.role)
    except ValueError as exc:
        state[K_USER_MESSAGE] = ("error", f"Not saved: {plain(exc)}.")
        return
    state[K_USER_MESSAGE] = ("success", f"{plain(email)} is now {roles.ROLE_LABELS[role]}"
                                        + (f" for {', '.join(lcsps)}" if lcsps else "") + ".")
    state[K_USER_EMAIL] = ""
    state[K_USER_NAME] = ""


def _revoke() -> None:
    """The Remove button's callback."""
    state = st.session_state
    me = auth.current()
    email = state.get(K_REVOKE)
    if not email:
        return
    engine = auth.store_engine()
    users = access_store.load_users(engine)
    is_admin = bool(((users["email"] == email) & (users["role"] == "admin")).any())
    if is_admin and access_store.count_admins(engine) <= 1:
        state[K_USER_MESSAGE] = ("error", "The last administrator cannot be removed.")
        return
    access_store.revoke_role(engine, email, revoked_by=me.email, revoked_by_role=me.role)
    state[K_USER_MESSAGE] = ("success", f"{plain(email)} has no role now.")


def render_users() -> None:
    """Who holds which role; give or take away a role."""
    access = auth.current()
    if access.mode == "demo":
        st.info("Local demo mode: there is no sign-in, so roles given here take effect only once "
                "sign-in is set up (see the README).", icon=":material/science:")
    engine = auth.store_engine()
    users = access_store.load_users(engine)
    context = shell.current_context()
    lcsps = context.lcsps if context else {}
    message = st.session_state.pop(K_USER_MESSAGE, None)
    if message:
        (st.success if message[0] == "success" else st.error)(message[1])
    shown = users.assign(role=users["role"].map(lambda r: roles.ROLE_LABELS.get(r, r)))
    shown.columns = ["E-mail", "Name", "Role", "Own LCSPs", "Given by", "Given (UTC)"]
    st.dataframe(shown, hide_index=True, width="stretch")
    st.caption(" ".join(f"**{roles.ROLE_LABELS[r]}**: {roles.ROLE_DESCRIPTIONS[r]}"
                        for r in roles.ROLES))
    with st.form("admin_assign_form", clear_on_submit=False, border=True):
        st.markdown("**Give a role** (replaces the user's current role)")
        c1, c2 = st.columns(2)
        c1.text_input("E-mail address", key=K_USER_EMAIL, max_chars=roles.MAX_EMAIL_LENGTH)
        c2.text_input("Name (optional)", key=K_USER_NAME, max_chars=200)
        c1.selectbox("Role", roles.ROLES, key=K_USER_ROLE, format_func=roles.ROLE_LABELS.get)
        c2.multiselect("Own LCSPs (LCSP managers only)", tuple(lcsps), key=K_USER_LCSPS,
                       format_func=lambda code: lcsps.get(code, code))
        st.form_submit_button("Save", type="primary", on_click=_assign, icon=":material/save:")
    if len(users):
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        c1.selectbox("Remove a user's role", [""] + users["email"].tolist(), key=K_REVOKE,
                     format_func=lambda e: e or "Choose a user")
        c2.button("Remove", on_click=_revoke, icon=":material/person_remove:",
                  disabled=not st.session_state.get(K_REVOKE))


# --- the audit log -----------------------------------------------------------------------------

K_AUDIT_DAYS = "admin_audit_days"
K_AUDIT_USER = "admin_audit_user"
K_AUDIT_ACTION = "admin_audit_action"
AUDIT_ROWS = 2_000
AUDIT_ACTION_LABELS = {"": "Every action", "view": "Viewed sensitive figures",
                       "export": "Exported", "import": "Loaded data", "grant": "Gave a role",
                       "revoke": "Removed a role", "denied": "Refused (no role)"}


def render_audit_log() -> None:
    """The newest audit lines, filtered, with a download."""
    c1, c2, c3 = st.columns(3)
    days = c1.selectbox("Period", (1, 7, 30, 90, 365), index=2, key=K_AUDIT_DAYS,
                        format_func=lambda d: "Today" if d == 1 else f"Last {d} days")
    user = c2.text_input("User (part of the e-mail)", key=K_AUDIT_USER, max_chars=254)
    action = c3.selectbox("Action", tuple(AUDIT_ACTION_LABELS), key=K_AUDIT_ACTION,
                          format_func=AUDIT_ACTION_LABELS.get)
    since = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=days - 1)
    log = access_store.load_audit(auth.store_engine(), since=since, user=user or None,
                                  action=action or None, limit=AUDIT_ROWS)
    log.columns = ["When (UTC)", "User", "Role", "Action", "Page", "What", "File", "Rows"]
    st.dataframe(log, hide_index=True, width="stretch")
    more = " (the newest shown; narrow the filters for older lines)" if len(log) == AUDIT_ROWS else ""
    st.caption(f"{len(log):,} line{'s' if len(log) != 1 else ''}{more}. Views are logged once "
               "per user, page and view in half an hour; every download is logged.")
    ui.download_button(log, "audit_log.csv", key="admin_audit_download",
                       label="Download the audit log (CSV)")


# Streamlit runs a page as __main__; importing the module (tests) draws nothing.
if __name__ == "__main__":
    shell.ensure_session_defaults()
    with shell.page_guard("the Load data page"):
        render_admin_page()
