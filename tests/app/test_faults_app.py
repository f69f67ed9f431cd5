"""The app when its database stops answering: at start, mid-session, and when it comes back.

The shared PostgreSQL server cannot be stopped by a test, so the app reads it through a TCP
proxy (tests/fault_support.py) that the test shuts down, every live connection included, and starts
again on the same port: PostgreSQL stopping and restarting, as the app sees it.

- Mid-session: views already seen are served from the cache without a word; a view that needs
  the database says it is not answering (no traceback, no "internal error"); once the database
  is back the same session works again, without restarting the app.
- A restart between two runs (every pooled connection dead) goes unnoticed.
- At start (a closed port): a clear message and a retry button, nothing remembered, and the
  dashboard opens on the next try once the database answers.
- An import into PostgreSQL by another process shows in a running session (the data version the
  caches are keyed by is read from the server, and kept while it does not answer).
- A database that refuses writes (PostgreSQL read-only, a DuckDB folder that cannot be written)
  is still read: every page draws.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from data_access import connection
from data_access import engine as eng
from data_access.load import run_import
from tests.conftest import build_sample, throwaway_postgres
from tests.fault_support import (
    TcpProxy, closed_port, read_only_database, read_only_folder, server_of, street_csv,
    with_port,
)

ROOT = Path(__file__).resolve().parents[2]
READ_PAGES = ("pages/overview.py", "pages/data_status.py", "pages/hotspots.py")
NOT_ANSWERING = "The database is not answering just now"


@pytest.fixture(scope="module")
def pg_sample():
    """The small sample in a throwaway PostgreSQL database, only ever read here."""
    with throwaway_postgres() as url:
        build_sample(url)
        yield url


@pytest.fixture
def proxied(pg_sample, monkeypatch):
    """A running proxy to the sample database, with the app pointed at it."""
    with TcpProxy(server_of(pg_sample)) as proxy:
        monkeypatch.setenv("DATABASE_URL", with_port(pg_sample, proxy.port))
        yield proxy


def new_app() -> AppTest:
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)


def messages(at: AppTest) -> str:
    return " ".join(e.value for e in at.error)


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, messages(at)


def assert_not_answering(at: AppTest, what: str) -> None:
    """The database's own message: specific, with nothing of the program's insides."""
    assert not at.exception, [e.value for e in at.exception]
    text = messages(at)
    assert f"{NOT_ANSWERING}, so {what}" in text and "cannot be shown" in text, text
    assert "still work from memory" in text and "try again in a moment" in text
    for inside in ("internal error", "Traceback", "OperationalError", "psycopg", "Connection refused"):
        assert inside not in text, text


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


@pytest.mark.postgres
def test_postgres_stopping_mid_session_keeps_seen_views_and_recovers(proxied, monkeypatch):
    # Every run asks the server for its data version, so the outage is met on each run too.
    monkeypatch.setattr(connection, "SERVER_VERSION_EVERY_S", 0.0)
    at = new_app().run()
    assert_clean(at)
    overview = metrics(at)
    assert overview.get("Total recorded crime")
    at.switch_page("pages/data_status.py").run()
    assert_clean(at)

    # PostgreSQL restarts between two runs: every pooled connection is dead, and the next view
    # that needs the database gets a fresh one without the user noticing.
    opened = proxied.accepted
    assert opened > 0
    proxied.stop()
    proxied.start()
    at.switch_page("pages/explorer.py").run()
    assert_clean(at)
    assert proxied.accepted > opened

    proxied.stop()
    # Views already seen come from the cache: no message at all, the same figures.
    at.switch_page("pages/overview.py").run()
    assert_clean(at)
    assert metrics(at) == overview
    at.switch_page("pages/data_status.py").run()
    assert_clean(at)
    # A page not seen yet needs the database, and says it is not answering.
    at.switch_page("pages/hotspots.py").run()
    assert_not_answering(at, "the Hotspot map")
    # So does a period not seen yet: the filters cannot be resolved, and the page waits.
    at.switch_page("pages/overview.py")
    at.query_params["fy"] = "2024/25"
    at.run()
    assert_not_answering(at, "the filters")
    assert not at.metric

    proxied.start()  # the database is back: the same session, no app restart
    at.run()
    assert_clean(at)
    assert at.query_params["fy"] == "2024/25" and metrics(at)["Total recorded crime"]
    at.switch_page("pages/hotspots.py").run()
    assert_clean(at)
    assert "Hotspot map" in [t.value for t in at.title]


@pytest.mark.postgres
def test_postgres_down_at_start_gives_a_message_then_opens_once_it_answers(proxied):
    proxied.stop()
    at = new_app().run()
    assert not at.exception
    text = messages(at)
    assert "cannot reach its database" in text and "not answering" in text, text
    assert f"127.0.0.1:{proxied.port}" in text
    assert not at.title  # no page is drawn without the database
    retry = at.button(key="shell_database_retry")
    retry.click().run()  # still down: the same message, nothing remembered
    assert "cannot reach its database" in messages(at) and not at.exception

    proxied.start()
    at.button(key="shell_database_retry").click().run()
    assert_clean(at)
    assert "Overview" in [t.value for t in at.title]
    assert metrics(at)["Total recorded crime"]


def test_a_closed_port_at_start_gives_the_start_message_and_no_exception(monkeypatch):
    port = closed_port()
    monkeypatch.setenv("DATABASE_URL", f"postgresql+psycopg://csp:pw@127.0.0.1:{port}/csp")
    at = new_app().run()
    assert not at.exception
    text = messages(at)
    assert f"cannot reach its database at `postgresql+psycopg://csp:***@127.0.0.1:{port}/csp`" \
        " just now" in text, text
    assert "try again in a moment" in text and "DATABASE_URL" in text
    assert "Connection refused" not in text and "Traceback" not in text
    assert not at.title
    at.button(key="shell_database_retry").click().run()  # retried, not remembered
    assert not at.exception and "cannot reach its database" in messages(at)


@pytest.mark.postgres
def test_an_import_into_postgres_shows_in_a_running_session(monkeypatch, tmp_path):
    monkeypatch.setattr(connection, "SERVER_VERSION_EVERY_S", 0.0)
    with throwaway_postgres() as url:
        build_sample(url)
        monkeypatch.setenv("DATABASE_URL", url)
        # Signed in: once real data are imported the local demo mode (no sign-in) shows nothing.
        from data_access import access

        assert access.main(["--database-url", url, "grant", "analyst@example.gov.uk", "admin"]) == 0
        at = new_app()
        at.secrets["auth"] = {"client_id": "test", "client_secret": "test",
                              "cookie_secret": "test", "redirect_uri": "http://localhost/cb",
                              "server_metadata_url": "https://idp.example.invalid/.well-known"}
        at.user = {"is_logged_in": True, "email": "analyst@example.gov.uk", "name": "Analyst"}
        at.run()
        at.switch_page("pages/data_status.py").run()
        assert_clean(at)
        assert "importer" not in set(at.dataframe[1].value["Who"])

        csv = street_csv(tmp_path / "2026-09-street.csv")
        run_import("police-uk", [csv], url=url, loaded_by="importer")  # as another process would

        at.run()  # the same session, its caches untouched by the import
        assert_clean(at)
        assert at.dataframe[1].value["Who"].iloc[0] == "importer"


def assert_pages_draw(at: AppTest) -> None:
    at.run()
    assert_clean(at)
    assert metrics(at)["Total recorded crime"]
    for page in READ_PAGES[1:]:
        at.switch_page(page).run()
        assert_clean(at)
        assert at.title


def test_a_read_only_duckdb_folder_is_still_read(sample_db_url, tmp_path, monkeypatch):
    folder = tmp_path / "db"
    folder.mkdir()
    shutil.copyfile(os.path.realpath(eng.duckdb_path(sample_db_url)), folder / "csp.duckdb")
    monkeypatch.setenv("DATABASE_URL", f"duckdb:///{folder / 'csp.duckdb'}")
    with read_only_folder(folder):
        assert_pages_draw(new_app())


@pytest.mark.postgres
def test_a_read_only_postgres_database_is_still_read(pg_sample, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", pg_sample)
    with read_only_database(pg_sample):
        assert_pages_draw(new_app())


@pytest.mark.postgres
def test_an_import_on_the_admin_page_into_a_read_only_database_says_so(pg_sample, monkeypatch):
    """The Load data page names the fault (read-only) instead of an internal error, and the
    rest of the page keeps working."""
    from tests.app.signin import sign_in
    from tests.app.test_admin import street_csv

    monkeypatch.setenv("DATABASE_URL", pg_sample)
    at = sign_in(new_app(), "admin@example.gov.uk", "admin", database_url=pg_sample).run()
    at.switch_page("pages/admin.py").run()
    assert_clean(at)
    with read_only_database(pg_sample):
        at.file_uploader[0].set_value(
            [("2026-09-street.csv", street_csv("2026-09", ["SL0001"]), "text/csv")]).run()
        at.button(key="admin_import").click().run()
    assert not at.exception
    message = messages(at)
    assert "could not be completed" in message and "nothing was changed" in message.lower()
    assert "internal error" not in message
