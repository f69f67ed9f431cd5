"""Signing in inside AppTest: OIDC configured with a fake provider and the identity mocked
through ``AppTest.user`` (Streamlit never calls the provider unless the Sign in button is
clicked), with the role given in the access store."""

from __future__ import annotations


FAKE_AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "test-cookie-secret",
    "client_id": "dashboard",
    "client_secret": "test-client-secret",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}


def grant(database_url: str, email: str, role: str, lcsps=()) -> None:
    """Give ``email`` ``role`` in the access store of ``database_url``."""
    from data_access import access

    engine = access.make_access_engine(access.access_url(database_url))
    try:
        access.ensure_access_store(engine)
        access.assign_role(engine, email, role, lcsps=lcsps, granted_by="tests")
    finally:
        engine.dispose()


def sign_in(at, email: str | None = None, role: str | None = "admin", lcsps=(),
            database_url: str | None = None):
    """Make ``at`` a signed-in session (OIDC configured, identity mocked through
    ``AppTest.user``) of ``email`` holding ``role`` (None: no role given)."""
    import os

    email = email or f"{role or 'nobody'}@example.gov.uk"
    if role is not None:
        grant(database_url or os.environ["DATABASE_URL"], email, role, lcsps)
    at.secrets["auth"] = dict(FAKE_AUTH)
    at.user = {"is_logged_in": True, "email": email, "name": email.split("@")[0].title()}
    return at
