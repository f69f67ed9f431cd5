"""Signing in for real: ``streamlit run app.py`` with an ``[auth]`` section pointing at a small
OpenID Connect provider (:mod:`fake_oidc`), driven in Debian's chromium (never a downloaded
browser) through Streamlit's own ``st.login`` flow: the "Sign in" button, the provider's
redirect back to ``/oauth2callback`` with a code, Authlib's token exchange and ID-token checks
(signature, issuer, audience, nonce), the identity cookie, then the role from the access store.

The database is a copy of the sample holding one real import, so the local demo mode is off and
nothing shows without signing in. Streamlit's sign-in needs Authlib and httpx (its ``auth``
extra): without httpx the "Sign in" button leads to "Internal Server Error" at ``/auth/login``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import http.client
import json
import shutil
from pathlib import Path
from typing import NamedTuple
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from browser_support import TIMEOUT_MS, problems_on, streamlit_server, wait_until_idle
from fake_oidc import FakeOIDCProvider

pytestmark = pytest.mark.e2e
pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

CLIENT_ID = "csp-dashboard"
CLIENT_SECRET = "e2e-client-secret"
ANALYST = ("ann.analyst@example.gov.uk", "Ann Analyst")
VIEWER = ("vic.viewer@example.gov.uk", "Vic Viewer")
NOBODY = ("no.role@example.gov.uk", "Noel Norole")
VIEWPORT = {"width": 1366, "height": 1200}
FIGURES = '[data-testid="stMetric"], [data-testid="stPlotlyChart"], [data-testid="stDataFrame"]'
# Text of the Overview's headline cards: seen in the page even before their frames have drawn.
FIGURE_TEXT = ("Total recorded crime", "Last year")
SIGNED_IN = '[data-testid="stSidebar"] :text("Signed in as")'


class Server(NamedTuple):
    base: str  # e.g. http://127.0.0.1:PORT
    log: Path

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-1500:]


@pytest.fixture(scope="module")
def provider():
    with FakeOIDCProvider(CLIENT_ID, CLIENT_SECRET) as running:
        yield running


@pytest.fixture(scope="module")
def real_db_url(sample_db_url, tmp_path_factory) -> str:
    """A copy of the sample database holding one real import, roles given to two users."""
    from data_access import engine as eng
    from data_access import schema
    from tests.app.signin import grant

    target = tmp_path_factory.mktemp("signin_db") / "real.duckdb"
    shutil.copyfile(Path(eng.duckdb_path(sample_db_url)).resolve(), target)
    url = f"duckdb:///{target}"
    with eng.write_transaction(url) as conn:
        conn.execute(schema.imports.insert().values(
            import_id=999_001, kind="police-uk", source="police_uk", file_name="real.csv",
            loaded_by="tests", loaded_at=dt.datetime(2026, 11, 1)))
    grant(url, ANALYST[0], "analyst")
    grant(url, VIEWER[0], "viewer")
    return url


@pytest.fixture(scope="module")
def server(real_db_url, provider, tmp_path_factory) -> Server:
    """The app with sign-in configured; Streamlit fills ``{port}`` in the redirect URI with the
    port it was started on, so the URI matches the server's address."""
    folder = tmp_path_factory.mktemp("signin_server")
    secrets = folder / "secrets.toml"
    secrets.write_text(
        "[auth]\n"
        'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        'cookie_secret = "e2e-cookie-secret-long-enough-for-signing-0123456789"\n'
        f'client_id = "{CLIENT_ID}"\n'
        f'client_secret = "{CLIENT_SECRET}"\n'
        f'server_metadata_url = "{provider.metadata_url}"\n')
    log = folder / "streamlit.log"
    with streamlit_server(real_db_url, log, extra_args=["--secrets.files", str(secrets)]) as base:
        yield Server(base, log)


def _settled(page) -> None:
    """The script has finished this run (charts may still be drawing)."""
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]',
                           timeout=TIMEOUT_MS)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="hidden", timeout=TIMEOUT_MS)


def _assert_no_figures(page) -> None:
    assert page.locator(FIGURES).count() == 0
    shown = page.locator("body").inner_text()
    assert not [text for text in FIGURE_TEXT if text in shown], shown[:500]


def _assert_figures(page) -> None:
    # A metric's frame is drawn by lazily loaded code, a moment after the run has ended.
    page.locator('[data-testid="stMetric"]').first.wait_for(timeout=TIMEOUT_MS)


def _on_sign_in_page(page) -> None:
    """The page is the sign-in page: its button, and no figures, pages or identity."""
    page.get_by_role("button", name="Sign in").wait_for(timeout=TIMEOUT_MS)
    _settled(page)
    _assert_no_figures(page)
    assert page.locator(SIGNED_IN).count() == 0
    assert _nav_pages(page) == []
    assert problems_on(page) == []


def _signed_out_page(browser, server: Server):
    """A new browser context (no cookies) on the app's home page: the sign-in page."""
    page = browser.new_context(viewport=VIEWPORT).new_page()
    page.goto(server.base, timeout=TIMEOUT_MS)
    _on_sign_in_page(page)
    return page


def _sign_in(page, server: Server, provider: FakeOIDCProvider, who: tuple[str, str],
             landing: str = "Overview"):
    """Click "Sign in" with the provider set to sign in ``who``; wait for the heading
    ``landing`` and the end of the run."""
    provider.next_email, provider.next_name = who
    before = len(provider.signed_in)
    page.get_by_role("button", name="Sign in").click()
    try:
        page.get_by_role("heading", name=landing, exact=True).first.wait_for(timeout=TIMEOUT_MS)
    except Exception:
        shown = page.locator("body").inner_text()[:300]
        raise AssertionError(
            f"not signed in: now at {page.url} showing {shown!r}; provider refused "
            f"{provider.errors}; issued {provider.signed_in}; server log:\n{server.log_tail()}"
        ) from None
    _settled(page)
    assert provider.signed_in[before:] == [who[0]], provider.errors
    assert provider.errors == []


def _identity(page) -> str:
    return page.locator(SIGNED_IN).first.inner_text().strip()


def _title(link_text: str) -> str:
    """A navigation link's page title (its text is the icon's name, then the title)."""
    return link_text.strip().splitlines()[-1].strip()


def _nav_pages(page) -> list[str]:
    """The titles of the pages offered in the top navigation (opening each section's menu)."""
    nav = page.locator('[data-testid="stTopNav"]')
    if nav.count() == 0:
        return []
    titles = [_title(text) for text in nav.locator("a").all_inner_texts()]
    sections = nav.locator('[data-testid="stTopNavSection"]')
    for index in range(sections.count()):
        sections.nth(index).click()
        links = page.locator('[data-testid="stTopNavDropdownLink"]')
        links.first.wait_for(timeout=5_000)
        titles += [_title(text) for text in links.all_inner_texts()]
        page.keyboard.press("Escape")
        links.first.wait_for(state="detached", timeout=5_000)
    return titles


def _audit(database_url: str, email: str) -> list[tuple[str, str]]:
    """(action, detail) of the audit lines about ``email``."""
    from data_access import access as store

    engine = store.make_access_engine(store.access_url(database_url))
    try:
        lines = store.load_audit(engine, user=email)
    finally:
        engine.dispose()
    return list(zip(lines["action"], lines["detail"]))


def test_an_analyst_signs_in_through_the_provider_and_out_again(browser, server, provider,
                                                                shots):
    page = _signed_out_page(browser, server)
    try:
        _sign_in(page, server, provider, ANALYST)
        assert urlsplit(page.url).path in ("", "/"), "the callback did not land on the home page"
        _assert_figures(page)
        assert _identity(page) == f"Signed in as {ANALYST[1]} · Analyst"
        assert problems_on(page) == []
        wait_until_idle(page)  # every chart drawn before the picture
        page.screenshot(path=str(shots / "signed-in-overview.png"), full_page=True)
        offered = _nav_pages(page)
        assert {"Overview", "Priority boards", "Data explorer"} <= set(offered)
        assert "Administration" not in offered

        page.locator('[data-testid="stSidebar"]').get_by_role("button", name="Sign out").click()
        _on_sign_in_page(page)
        page.reload(timeout=TIMEOUT_MS)  # the identity cookie is gone, not just this session
        _on_sign_in_page(page)
    finally:
        page.context.close()


def test_a_user_with_no_role_sees_no_access_yet(browser, server, provider, real_db_url):
    page = _signed_out_page(browser, server)
    try:
        _sign_in(page, server, provider, NOBODY, landing="No access yet")
        assert NOBODY[0] in page.locator('[data-testid="stAlertContainer"]').first.inner_text()
        _assert_no_figures(page)
        assert _nav_pages(page) == []
        assert page.get_by_role("button", name="Sign out").count() == 1
        assert problems_on(page) == []
        assert ("denied", "signed in with no role") in _audit(real_db_url, NOBODY[0])
    finally:
        page.context.close()


def test_a_viewer_has_no_explorer_or_administration(browser, server, provider):
    page = _signed_out_page(browser, server)
    try:
        _sign_in(page, server, provider, VIEWER)
        assert _identity(page) == f"Signed in as {VIEWER[1]} · Viewer"
        _assert_figures(page)
        offered = _nav_pages(page)
        assert {"Overview", "Priority boards", "Data status"} <= set(offered)
        assert "Data explorer" not in offered and "Administration" not in offered

        # The deep link, still signed in: Streamlit runs the home page instead (with its own
        # "Page not found" note, as the page is not in this user's navigation).
        page.goto(f"{server.base}/explorer", timeout=TIMEOUT_MS)
        page.get_by_role("heading", name="Overview", exact=True).first.wait_for(
            timeout=TIMEOUT_MS)
        _settled(page)
        assert page.get_by_role("heading", name="Data explorer").count() == 0
        assert _identity(page) == f"Signed in as {VIEWER[1]} · Viewer"
        assert problems_on(page) == []
    finally:
        page.context.close()



def _call(provider: FakeOIDCProvider, method: str, path: str, form: dict | None = None):
    """(status, headers, body) of one request to ``provider``, redirects not followed."""
    connection = http.client.HTTPConnection(urlsplit(provider.issuer).netloc, timeout=10)
    try:
        body = urlencode(form).encode() if form is not None else None
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if form else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_the_test_provider_refuses_what_a_real_one_would():
    """The fake provider is strict enough for the sign-ins above to prove something: a code
    works once, for its own client, redirect URI and PKCE verifier."""
    redirect_uri = "http://127.0.0.1:1/oauth2callback"
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())

    def code(provider) -> str:
        query = urlencode({"response_type": "code", "client_id": CLIENT_ID, "state": "s1",
                           "scope": "openid email", "nonce": "n1", "redirect_uri": redirect_uri,
                           "code_challenge": challenge.rstrip(b"=").decode(),
                           "code_challenge_method": "S256"})
        status, headers, _ = _call(provider, "GET", f"/authorize?{query}")
        back = parse_qs(urlsplit(headers["Location"]).query)
        assert status == 302 and back["state"] == ["s1"]
        return back["code"][0]

    def token(provider, code: str, **changes) -> int:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                "code_verifier": verifier, "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET, **changes}
        status, _, body = _call(provider, "POST", "/token", form)
        if status == 200:
            assert json.loads(body)["id_token"].count(".") == 2
        return status

    with FakeOIDCProvider(CLIENT_ID, CLIENT_SECRET) as provider:
        provider.next_email = ANALYST[0]
        assert token(provider, code(provider), client_secret="wrong") == 401
        assert token(provider, code(provider), code_verifier="x" * 50) == 400
        elsewhere = "http://elsewhere/oauth2callback"
        assert token(provider, code(provider), redirect_uri=elsewhere) == 400
        good = code(provider)
        assert token(provider, good) == 200
        assert token(provider, good) == 400  # a code works once
        assert provider.signed_in == [ANALYST[0]] and len(provider.errors) == 4
