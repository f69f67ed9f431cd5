"""Sign-in, roles, the cache per access scope, the audit log and the disclosure rule through the
app: who sees which pages and figures, and that no two users share cached rows they should not.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import streamlit as st
from streamlit.testing.v1 import AppTest

from data_access import access as store
from data_access import disclosure_queries as dq
from data_access import engine as eng
from data_access import schema
from kpis import disclosure
from tests.app.markdown_text import as_shown
from tests.app.signin import FAKE_AUTH, grant, sign_in

ROOT = Path(__file__).resolve().parents[2]
FY = "2025/26"


def app(**params: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for key, value in params.items():
        at.query_params[key] = value
    return at


def area_table(at: AppTest) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if "Count" in d.value.columns)


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def titles(at: AppTest) -> list[str]:
    return [t.value for t in at.title]


def audit_lines(url: str) -> pd.DataFrame:
    engine = store.make_access_engine(store.access_url(url))
    try:
        store.ensure_access_store(engine)
        return store.load_audit(engine, limit=10_000)
    finally:
        engine.dispose()


@pytest.fixture
def real_db(sample_db_url, tmp_path, monkeypatch):
    """A copy of the sample database holding one real import (the local demo mode is off)."""
    source = Path(eng.duckdb_path(sample_db_url)).resolve()
    target = tmp_path / "real.duckdb"
    shutil.copyfile(source, target)
    url = f"duckdb:///{target}"
    with eng.write_transaction(url) as conn:
        conn.execute(schema.imports.insert().values(
            import_id=999_001, kind="police-uk", source="police_uk", file_name="real.csv",
            loaded_by="tests", loaded_at=dt.datetime(2026, 11, 1)))
    monkeypatch.setenv("DATABASE_URL", url)
    return url


# --- ways in ----------------------------------------------------------------------------------

def test_local_demo_mode_is_marked_and_lets_the_user_pick_a_role():
    at = app().run()
    assert_clean(at)
    assert any("Local demo mode" in m.value for m in at.markdown)
    assert at.sidebar.selectbox(key="auth_demo_role").value == "admin"
    at.sidebar.selectbox(key="auth_demo_role").set_value("viewer").run()
    assert_clean(at)
    assert not at.get("download_button")


def test_real_data_without_sign_in_shows_nothing_but_how_to_set_it_up(real_db):
    at = app().run()
    assert not at.exception
    assert titles(at) == ["Sign-in is not set up"]
    assert not at.metric and not at.dataframe and not at.sidebar.selectbox


def test_signed_out_users_see_only_the_sign_in_button(real_db):
    at = app()
    at.secrets["auth"] = dict(FAKE_AUTH)
    at.user = {"is_logged_in": False}
    at.run()
    assert not at.exception
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.metric and not at.dataframe


def test_an_unknown_user_is_refused_and_the_refusal_is_logged(real_db):
    at = sign_in(app(), "stranger@example.org", role=None).run()
    assert not at.exception
    assert titles(at) == ["No access yet"]
    assert not at.metric
    lines = audit_lines(real_db)
    assert ((lines["user_email"] == "stranger@example.org") & (lines["action"] == "denied")).any()


def test_demo_mode_never_wins_over_sign_in(sample_db_url):
    """With [auth] configured, synthetic data or not, nobody gets in without signing in."""
    at = app()
    at.secrets["auth"] = dict(FAKE_AUTH)
    at.user = {"is_logged_in": False}
    at.run()
    assert [b.label for b in at.button] == ["Sign in"] and not at.metric


def test_a_revoked_role_takes_effect_on_the_next_run(real_db):
    at = sign_in(app(), "leaver@example.gov.uk", "analyst").run()
    assert_clean(at)
    assert "Overview" in titles(at)
    engine = store.make_access_engine(store.access_url(real_db))
    store.revoke_role(engine, "leaver@example.gov.uk", revoked_by="tests")
    engine.dispose()
    at.run()
    assert titles(at) == ["No access yet"]


# --- what each role sees ------------------------------------------------------------------------

def test_roles_decide_the_pages_and_the_downloads(real_db):
    viewer = sign_in(app(), "viewer@example.gov.uk", "viewer").run()
    assert_clean(viewer)
    assert not viewer.get("download_button")
    # The explorer and the admin page are not in a viewer's navigation at all.
    for path in ("pages/explorer.py", "pages/admin.py"):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            viewer.switch_page(path)

    analyst = sign_in(app(), "analyst@example.gov.uk", "analyst").run()
    assert analyst.get("download_button")
    analyst.switch_page("pages/explorer.py").run()
    assert_clean(analyst)
    assert "Data explorer" in titles(analyst)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        analyst.switch_page("pages/admin.py")


def test_an_admin_assigns_a_role_and_the_change_is_audited(real_db):
    at = sign_in(app(), "boss@example.gov.uk", "admin").run()
    at.switch_page("pages/admin.py").run()
    assert_clean(at)
    at.text_input(key="admin_user_email").input("New.Manager@Example.gov.uk")
    at.selectbox(key="admin_user_role").set_value("lcsp_manager")
    lcsp = at.multiselect(key="admin_user_lcsps").options[0]
    at.multiselect(key="admin_user_lcsps").select(lcsp)
    at.button[[b.label for b in at.button].index("Save")].click().run()
    assert_clean(at)
    assert any("new.manager@example.gov.uk is now LCSP manager" in as_shown(s.value)
               for s in at.success)
    engine = store.make_access_engine(store.access_url(real_db))
    assert [r for r, _ in store.load_assignments(engine, "new.manager@example.gov.uk")] \
        == ["lcsp_manager"]
    engine.dispose()
    lines = audit_lines(real_db)
    grants = lines[lines["action"] == "grant"]
    assert (grants["user_email"] == "boss@example.gov.uk").any()
    assert grants["detail"].str.contains("new.manager@example.gov.uk is now lcsp_manager").any()
    # The audit log tab lists it.
    log = next(d.value for d in at.dataframe if "Action" in d.value.columns)
    assert (log["Action"] == "grant").any()


def test_a_bad_email_is_refused_with_a_message(real_db):
    at = sign_in(app(), "boss@example.gov.uk", "admin").run()
    at.switch_page("pages/admin.py").run()
    at.text_input(key="admin_user_email").input("x');DROP TABLE user_roles;--")
    at.button[[b.label for b in at.button].index("Save")].click().run()
    assert not at.exception
    assert any("Enter one e-mail address" in e.value for e in at.error)
    engine = store.make_access_engine(store.access_url(real_db))
    assert len(store.load_users(engine)) >= 1  # the table is still there
    engine.dispose()


def test_the_last_admin_cannot_remove_themselves(tmp_path, real_db):
    only = "only.admin@example.gov.uk"
    at = sign_in(app(), only, "admin").run()
    engine = store.make_access_engine(store.access_url(real_db))
    for email in store.load_users(engine)["email"]:  # leave one admin
        if email != only:
            store.revoke_role(engine, email, revoked_by="tests")
    at.switch_page("pages/admin.py").run()
    at.selectbox(key="admin_revoke_email").set_value(only).run()
    at.button[[b.label for b in at.button].index("Remove")].click().run()
    assert any("last administrator" in e.value for e in at.error)
    assert store.count_admins(engine) == 1
    engine.dispose()


# --- sensitive views: the audit log and the rule ----------------------------------------------

def _lcsp_with_withheld_ward(url: str, key: str) -> tuple[str, frozenset[str]]:
    engine = eng.reader_engine(url)
    try:
        cells = dq.load_withheld(engine, dt.date(2025, 4, 1), dt.date(2026, 3, 1), 7)[key]
        members = pd.read_sql(sa.select(schema.areas.c.code, schema.areas.c.parent_code)
                              .where(schema.areas.c.level == "ward"), engine)
    finally:
        engine.dispose()
    parents = members[members["code"].isin(cells)]["parent_code"].value_counts()
    return str(parents.index[0]), cells


def test_viewing_sensitive_figures_below_partnership_is_audited(real_db):
    lcsp, _ = _lcsp_with_withheld_ward(real_db, "category:recorded_crime/sexual_offences")
    at = sign_in(app(fy=FY, lcsp=lcsp), "watcher@example.gov.uk", "viewer").run()
    assert_clean(at)
    at.run()  # a rerun of the same view is not a new line
    lines = audit_lines(real_db)
    mine = lines[(lines["user_email"] == "watcher@example.gov.uk") & (lines["action"] == "view")]
    assert len(mine[mine["page"] == "overview"]) >= 1
    assert mine["detail"].str.contains(FY).all()
    assert not mine.duplicated(["page", "detail"]).any()


def test_the_area_table_withholds_by_the_rule_and_resists_differencing(real_db, sample_engine):
    key = "category:recorded_crime/sexual_offences"
    lcsp, cells = _lcsp_with_withheld_ward(real_db, key)
    at = sign_in(app(fy=FY, lcsp=lcsp), "viewer@example.gov.uk", "viewer").run()
    at.selectbox(key="overview_measure").set_value("sexual_offences").run()
    assert_clean(at)
    table = area_table(at)
    withheld = table[table["Count"] == disclosure.WITHHELD]
    assert len(withheld) >= 2  # never a lone withheld ward beside a shown LCSP total
    # The true counts of the withheld wards add up to more than the threshold, so the LCSP
    # total minus the shown wards says nothing about any one of them.
    ml = schema.agg_month_lsoa
    with sample_engine.connect() as conn:
        true = dict(conn.execute(
            sa.select(ml.c.ward_code, sa.func.sum(ml.c.n))
            .where(ml.c.category == "sexual_offences", ml.c.lcsp_code == lcsp,
                   ml.c.month_start >= dt.date(2025, 4, 1), ml.c.month_start <= dt.date(2026, 3, 1))
            .group_by(ml.c.ward_code)).all())
        names = dict(conn.execute(sa.select(schema.areas.c.name, schema.areas.c.code)
                                  .where(schema.areas.c.level == "ward")).all())
    hidden = [true.get(names[a], 0) for a in withheld["Area"]]
    assert sum(hidden) > disclosure.SUPPRESSION_THRESHOLD
    # Each withheld ward card says the same as the table.
    ward = names[withheld["Area"].iloc[0]]
    card = sign_in(app(fy=FY, lcsp=lcsp, ward=ward), "viewer@example.gov.uk", "viewer").run()
    assert [m.value for m in card.metric if m.label == "Sexual offences"] == [disclosure.WITHHELD]


def test_two_month_ranges_cannot_be_subtracted(real_db):
    lcsp, _ = _lcsp_with_withheld_ward(real_db, "category:recorded_crime/sexual_offences")
    shown = []
    for to in ("2025-09", "2025-08"):
        at = sign_in(app(lcsp=lcsp, **{"from": "2025-04", "to": to}), "viewer@example.gov.uk",
                     "viewer").run()
        assert_clean(at)
        shown.append([m.value for m in at.metric if m.label == "Domestic abuse"][0])
    assert shown == [disclosure.WITHHELD, disclosure.WITHHELD]


def test_an_lcsp_manager_sees_their_own_lcsp_in_full_and_others_by_the_rule(real_db):
    lcsp, _ = _lcsp_with_withheld_ward(real_db, "category:recorded_crime/sexual_offences")
    manager = sign_in(app(fy=FY, lcsp=lcsp), "manager@example.gov.uk", "lcsp_manager",
                      lcsps=(lcsp,)).run()
    manager.selectbox(key="overview_measure").set_value("sexual_offences").run()
    assert_clean(manager)
    assert not (area_table(manager)["Count"] == disclosure.WITHHELD).any()
    viewer = sign_in(app(fy=FY, lcsp=lcsp), "viewer@example.gov.uk", "viewer").run()
    viewer.selectbox(key="overview_measure").set_value("sexual_offences").run()
    assert (area_table(viewer)["Count"] == disclosure.WITHHELD).any()


def test_cached_results_are_never_shared_between_scopes(real_db, monkeypatch):
    """As Superset's row-level-security cache tests do: the same query for two users of
    different scope must miss the cache for the second, and each gets their own rows."""
    from data_access import connection

    calls = []
    real = dq.load_withheld

    def counting(engine, *args, **params):
        calls.append(params.get("detail_lcsps"))
        return real(engine, *args, **params)

    counting.__module__, counting.__name__ = real.__module__, real.__name__
    monkeypatch.setattr(dq, "load_withheld", counting)
    lcsp, _ = _lcsp_with_withheld_ward(real_db, "category:recorded_crime/sexual_offences")
    calls.clear()
    st.cache_data.clear()
    params = dict(month_from=dt.date(2025, 4, 1), month_to=dt.date(2026, 3, 1), threshold=7)
    public = connection.cached(dq.load_withheld, scope="public", detail_lcsps=(), **params)
    detail = connection.cached(dq.load_withheld, scope=f"detail:{lcsp}", detail_lcsps=(lcsp,),
                               **params)
    again = connection.cached(dq.load_withheld, scope="public", detail_lcsps=(), **params)
    assert calls == [(), (lcsp,)]  # the second scope missed the cache; the third call hit it
    assert again == public
    key = "category:recorded_crime/sexual_offences"
    assert public[key] != detail[key]
    # The same parameters under another scope are another entry, even if a caller forgot to
    # pass the detail LCSPs: the scope alone keys the cache.
    connection.cached(dq.load_withheld, scope=f"detail:{lcsp}", detail_lcsps=(), **params)
    assert len(calls) == 3

    # Through the app: a manager's session first, then a viewer's on the same server cache.
    manager = sign_in(app(fy=FY, lcsp=lcsp), "manager@example.gov.uk", "lcsp_manager",
                      lcsps=(lcsp,)).run()
    manager.selectbox(key="overview_measure").set_value("sexual_offences").run()
    viewer = sign_in(app(fy=FY, lcsp=lcsp), "viewer@example.gov.uk", "viewer").run()
    viewer.selectbox(key="overview_measure").set_value("sexual_offences").run()
    assert not (area_table(manager)["Count"] == disclosure.WITHHELD).any()
    assert (area_table(viewer)["Count"] == disclosure.WITHHELD).any()


def test_grant_cli_checks_lcsp_codes_and_roles(real_db, capsys):
    assert store.main(["--database-url", real_db, "grant", "a@b.gov.uk", "lcsp_manager",
                       "--lcsp", "NOPE"]) == 1
    assert "Not an LCSP" in capsys.readouterr().err
    assert store.main(["--database-url", real_db, "grant", "not-an-email", "viewer"]) == 1
    assert store.main(["--database-url", real_db, "grant", "a@b.gov.uk", "viewer"]) == 0
    assert store.main(["--database-url", real_db, "list"]) == 0
    assert "a@b.gov.uk" in capsys.readouterr().out


def test_all_crime_minus_every_other_category_does_not_give_a_sensitive_one(real_db, sample_engine):
    """Rule 4: below partnership level, totals leave sensitive categories out, so subtracting
    every non-sensitive category (each shown on the hotspot map or in the explorer) from "Total
    recorded crime" gives nothing."""
    lcsp, _ = _lcsp_with_withheld_ward(real_db, "category:recorded_crime/sexual_offences")
    at = sign_in(app(fy=FY, lcsp=lcsp), "viewer@example.gov.uk", "viewer").run()
    assert_clean(at)
    total = int([m.value for m in at.metric if m.label == "Total recorded crime"][0]
                .replace(",", ""))
    inc, cats = schema.incidents, schema.categories
    with sample_engine.connect() as conn:
        plain = conn.execute(
            sa.select(sa.func.count()).select_from(inc.join(
                cats, (cats.c.source == inc.c.source) & (cats.c.category == inc.c.category)))
            .where(inc.c.source == "recorded_crime", inc.c.lcsp_code == lcsp,
                   inc.c.incident_date.between(dt.date(2025, 4, 1), dt.date(2026, 3, 31)),
                   cats.c.is_sensitive.is_(False))).scalar_one()
    assert total == plain
    # The same holds for the area table of a plain measure and for the LCSP manager's view of
    # another LCSP; their own LCSP is shown whole.
    at.selectbox(key="overview_measure").set_value("total_recorded_crime").run()
    assert any("leave out the sensitive categories" in c.value for c in at.caption)
