"""Community Safety Partnership dashboard: routes to the pages and draws the shared frame.

Run with ``streamlit run app.py``. The database comes from DATABASE_URL; without it the app uses
an embedded DuckDB file and fills it with synthetic sample data on first run.
"""

from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

from data_access import connection
from kpis.access import Access
from pages.common import auth, shell

ROOT = Path(__file__).resolve().parent

# (section, file, title, url_path, icon). The url paths are the public links: keep them stable.
# Each url path is its file's name: until st.navigation has run once in a fresh server process,
# Streamlit answers a deep link from its old automatic list of pages/ (named after the files), and
# any other name there shows a "Page not found" box. The Overview, the home page, is at "/".
PAGES = (
    ("Performance", "pages/overview.py", "Overview", "overview", ":material/dashboard:"),
    ("Performance", "pages/boards.py", "Priority boards", "boards", ":material/flag:"),
    ("Places and times", "pages/asb_calendar.py", "ASB seasonality calendar", "asb_calendar",
     ":material/calendar_month:"),
    ("Places and times", "pages/hotspots.py", "Hotspot map", "hotspots", ":material/map:"),
    ("Money", "pages/fund.py", "Community Safety Fund", "fund", ":material/payments:"),
    ("Data", "pages/explorer.py", "Data explorer", "explorer", ":material/table_view:"),
    ("Data", "pages/data_status.py", "Data status", "data_status", ":material/database:"),
    ("Data", "pages/admin.py", "Administration", "admin", ":material/admin_panel_settings:"),
)

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def make_sample_dataset():
    """The synthetic sample partnership (imported here: only the app fills a database)."""
    from sample_data.generator import build_dataset

    return build_dataset()


def navigation(access: Access) -> st.Page:
    """The page list in sections, as far as the user's role allows; the Overview is the home
    page. A page the role does not allow is not offered, and its link goes to the Overview."""
    sections: dict[str, list] = {}
    for section, path, title, url_path, icon in PAGES:
        if not access.can_open(url_path):
            continue
        sections.setdefault(section, []).append(
            st.Page(path, title=title, url_path=url_path, icon=icon, default=path == PAGES[0][1])
        )
    # Top navigation: [client] showSidebarNavigation = false hides a sidebar page list too.
    return st.navigation(sections, position="top")


st.set_page_config(
    page_title="Community safety dashboard", page_icon=":material/shield:", layout="wide"
)
shell.ensure_database(connection.current_url(), make_sample_dataset)
with shell.page_guard("sign-in") as signing_in:
    access = auth.resolve_access()
if signing_in.failed:  # the message is on the page; nothing else may be shown
    st.stop()
page = navigation(access)
auth.set_page(page.url_path)
with shell.page_guard("the filters") as frame:
    context = shell.load_context()
    auth.render_identity(context.lcsps if context else {})
    shell.render_frame()
if not frame.failed:  # without its filters a page would draw a stale view
    with shell.page_guard(f"the {page.title} page"):
        page.run()
