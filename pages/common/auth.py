"""Who is using the dashboard, what their role lets them see, and the audit log of it.

Three ways in, decided per run by :func:`resolve_access` (called by ``app.py`` before any page):

- **Sign-in** (a deployment): an ``[auth]`` section in ``.streamlit/secrets.toml`` configures
  Streamlit's OpenID Connect sign-in (``st.login``/``st.user``; any OIDC provider: Microsoft Entra
  ID, Google, Okta...). A signed-in user sees what the role assigned to their e-mail address
  allows (:mod:`kpis.access`); a user with no role sees only a note to ask an administrator.
- **Local demo mode**: without ``[auth]`` and only while the database holds nothing but the
  synthetic sample data, anyone on the machine may use the dashboard and pick the role to view
  it as. Every page says so in a banner. It cannot expose real data: once anything is imported
  the mode switches itself off, and an ``[auth]`` section always wins.
- Otherwise (real data, no ``[auth]``): a page saying that sign-in must be set up, and nothing else.

Views of sensitive figures below partnership level and every export are written to the audit
log (:mod:`data_access.access`, DPA 2018 s.62) with the user, role and what was seen.
"""

from __future__ import annotations

import logging
import time

import streamlit as st

from data_access import access as store
from data_access import connection
from kpis import access as roles
from kpis.access import Access

logger = logging.getLogger("csp_dashboard")

K_ACCESS = "auth_access"  # the Access resolved in this run
K_LAST_GOOD = "auth_last_good"  # (Access, monotonic seconds) while the access store is down
K_DEMO_ROLE = "auth_demo_role"
K_DEMO_LCSPS = "auth_demo_lcsps"
K_PAGE = "auth_page"  # the url path of the page being drawn, for the audit log
K_AUDITED = "auth_audited"  # (page, detail) -> monotonic seconds, so a rerun is not a new view
DEMO_EMAIL = "demo@localhost"
DEMO_NAME = "Local demo user"
DEMO_DEFAULT_ROLE = "admin"
# A signed-in user keeps their role for this long while the access store cannot be reached.
STORE_OUTAGE_GRACE_S = 15 * 60
AUDIT_REPEAT_S = 30 * 60


class AccessUnavailable(Exception):
    """Roles cannot be read just now (the access store is unreachable)."""


# --- configuration ----------------------------------------------------------------------

def oidc_configured() -> bool:
    """True when ``.streamlit/secrets.toml`` has an ``[auth]`` section (sign-in is required)."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all
        return False


@st.cache_resource(max_entries=2, show_spinner=False)
def _store_engine(url: str):
    engine = store.make_access_engine(url)
    store.ensure_access_store(engine)  # an exception is not cached: the next run tries again
    return engine


def store_engine():
    """The writable engine on the access store (roles and audit log)."""
    return _store_engine(store.access_url(connection.current_url()))


def demo_mode_allowed() -> bool:
    """True when the local demo mode may run: no ``[auth]`` and only synthetic sample data."""
    if oidc_configured():
        return False
    return bool(connection.cached(store.holds_only_sample_data))


# --- resolving the user ---------------------------------------------------------------------

def _signed_in_access() -> Access | None:
    email = roles.normalise_email(st.user.get("email") or "")
    name = str(st.user.get("name") or email)
    try:
        rows = store.load_assignments(store_engine(), email)
    except Exception as exc:
        last = st.session_state.get(K_LAST_GOOD)
        if last and last[0].email == email and time.monotonic() - last[1] < STORE_OUTAGE_GRACE_S:
            logger.warning("access store unreachable; keeping %s's role for now", email)
            return last[0]
        raise AccessUnavailable() from exc
    found = roles.access_from_rows(email, name, rows)
    if found is not None:
        st.session_state[K_LAST_GOOD] = (found, time.monotonic())
    return found


def _demo_access() -> Access:
    role = st.session_state.get(K_DEMO_ROLE)
    if role not in roles.ROLES:
        role = st.session_state[K_DEMO_ROLE] = DEMO_DEFAULT_ROLE
    lcsps = tuple(sorted(st.session_state.get(K_DEMO_LCSPS) or ())) if role == "lcsp_manager" else ()
    return Access(email=DEMO_EMAIL, name=DEMO_NAME, role=role, lcsps=lcsps, mode="demo")


def _sign_in_page() -> None:
    st.title("Community safety dashboard")
    st.markdown(
        "This dashboard holds partners' data about victims, domestic abuse and exploitation. "
        "Sign in with your organisation account to continue.")
    if st.button("Sign in", type="primary", icon=":material/login:"):
        st.login()


def _no_role_page(email: str) -> None:
    st.title("No access yet")
    st.warning(
        f"You are signed in as **{email}**, but this address has no role on the dashboard. "
        "Ask the dashboard's administrator to give you one (they assign roles on the Load data "
        "page), then reload this page.", icon=":material/lock:")
    if st.button("Sign out", icon=":material/logout:"):
        st.logout()


def _not_configured_page() -> None:
    st.title("Sign-in is not set up")
    st.error(
        "This database holds real data, so the dashboard needs sign-in before it shows anything. "
        "Add an `[auth]` section for your organisation's OpenID Connect provider to "
        "`.streamlit/secrets.toml` (see the README), give yourself the admin role with "
        "`python -m data_access.access grant you@example.gov.uk admin`, and restart the app. "
        "The local demo mode, without sign-in, works only with the synthetic sample data.",
        icon=":material/lock:")


def resolve_access() -> Access:
    """The current user's Access; stops the run with the right page when there is none."""
    st.session_state.pop(K_ACCESS, None)
    if oidc_configured():
        if not st.user.is_logged_in:
            _sign_in_page()
            st.stop()
        try:
            found = _signed_in_access()
        except ValueError:  # the provider gave no usable e-mail address
            st.error("Your sign-in did not include an e-mail address, so the dashboard cannot "
                     "tell which role is yours. Ask the administrator to check the sign-in "
                     "settings.", icon=":material/error:")
            st.stop()
        except AccessUnavailable:
            logger.exception("could not read roles")
            st.error("The dashboard cannot check your role just now because its database is not "
                     "answering. Try again in a minute.", icon=":material/cloud_off:")
            st.stop()
        if found is None:
            audit("denied", "sign-in", "signed in with no role",
                  who=Access(email=roles.normalise_email(st.user.get("email") or ""),
                             name="", role="viewer"))
            _no_role_page(st.user.get("email"))
            st.stop()
        access = found
    elif demo_mode_allowed():
        access = _demo_access()
    else:
        _not_configured_page()
        st.stop()
    st.session_state[K_ACCESS] = access
    return access


def current() -> Access:
    """The Access resolved for this run (the least privilege when called outside the app)."""
    access = st.session_state.get(K_ACCESS)
    if access is None:
        return Access(email="unknown", name="unknown", role="viewer")
    return access


def can(capability: str) -> bool:
    """True when the current user's role grants ``capability``."""
    return current().can(capability)


def scope() -> str:
    """The current user's cache scope (see :attr:`kpis.access.Access.scope`)."""
    return current().scope


# --- the frame ----------------------------------------------------------------------------

def render_identity(lcsps: dict[str, str]) -> None:
    """Who is signed in, as what; in demo mode the banner and the role to view as.

    ``lcsps`` maps LCSP code to name (for the demo LCSP manager's choice).
    """
    access = current()
    if access.mode == "demo":
        st.badge("Local demo mode · synthetic data · no sign-in", icon=":material/science:",
                 color="orange")
    with st.sidebar:
        if access.mode == "demo":
            st.subheader("Local demo")
            st.caption("No sign-in: this mode works only with the synthetic sample data. "
                       "Choose a role to see the dashboard as its holders would.")
            st.selectbox("View as", roles.ROLES, key=K_DEMO_ROLE,
                         format_func=roles.ROLE_LABELS.__getitem__,
                         help="; ".join(f"{roles.ROLE_LABELS[r]}: {roles.ROLE_DESCRIPTIONS[r]}"
                                        for r in roles.ROLES))
            if st.session_state.get(K_DEMO_ROLE) == "lcsp_manager" and lcsps:
                if not st.session_state.get(K_DEMO_LCSPS):
                    st.session_state[K_DEMO_LCSPS] = [next(iter(lcsps))]
                st.multiselect("Own LCSPs", tuple(lcsps), key=K_DEMO_LCSPS,
                               format_func=lambda code: lcsps.get(code, code))
        else:
            st.caption(f"Signed in as **{access.name}** · {access.describe()}")
            if st.button("Sign out", icon=":material/logout:", key="auth_sign_out"):
                st.logout()


# --- the audit log ----------------------------------------------------------------------------

def set_page(url_path: str) -> None:
    """Remember which page is being drawn (the audit log names it)."""
    st.session_state[K_PAGE] = url_path or "overview"


def audit(action: str, page: str | None, detail: str, *, file_name: str | None = None,
          rows: int | None = None, who: Access | None = None) -> None:
    """Write one audit line; a failure goes to the server log and never stops the page."""
    who = who or current()
    page = page or st.session_state.get(K_PAGE, "unknown")
    try:
        store.record_event(store_engine(), email=who.email, role=who.role, action=action,
                           page=page, detail=detail, file_name=file_name, rows=rows)
    except Exception:
        logger.exception("AUDIT WRITE FAILED: %s %s %s %s %s", who.email, action, page, detail,
                         file_name or "")


def audit_view(page: str | None, detail: str) -> None:
    """Log that the current user viewed a sensitive view (once per half hour per view)."""
    page = page or st.session_state.get(K_PAGE, "unknown")
    seen = st.session_state.setdefault(K_AUDITED, {})
    key = (page, detail, current().email)
    now = time.monotonic()
    if now - seen.get(key, -AUDIT_REPEAT_S) < AUDIT_REPEAT_S:
        return
    seen[key] = now
    audit("view", page, detail)


def audit_export(page: str | None, file_name: str, rows: int | None, detail: str = "") -> None:
    """Log a download (called from the download button's click)."""
    audit("export", page, detail or f"downloaded {file_name}", file_name=file_name, rows=rows)
