"""Roles and what each may see and do: pure rules, no Streamlit, no database.

Who holds which role is data (the ``user_roles`` and ``user_lcsps`` tables, assigned on the Load
data page or with ``python -m data_access.access``); what a role allows is the table below, in
one place, so pages ask questions (``access.can("download")``) instead of naming roles.

- **viewer**: the public-safe views only: the performance pages with every sensitive small count
  withheld, no actions, no downloads, no data explorer.
- **board_member**: as a viewer, plus the boards' actions, meeting mode and the board packs, and
  the tables behind the charts as downloads.
- **lcsp_manager**: as a board member; full detail (no small-count suppression) for their own
  LCSP(s) and the wards in them, the public-safe view elsewhere.
- **analyst**: the data explorer and downloads, with the public-safe disclosure rule.
- **admin**: everything an analyst has, plus imports, user-role assignments and the audit log.

Small-count suppression (:mod:`kpis.disclosure`) is lifted only inside an LCSP manager's own
LCSPs: nobody else, not even an admin, sees sensitive counts of 1 to 7 below partnership level.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ROLES = ("viewer", "board_member", "lcsp_manager", "analyst", "admin")
ROLE_LABELS = {
    "viewer": "Viewer",
    "board_member": "Board member",
    "lcsp_manager": "LCSP manager",
    "analyst": "Analyst",
    "admin": "Administrator",
}
ROLE_DESCRIPTIONS = {
    "viewer": "Public-safe views only: sensitive small counts withheld; no actions, downloads or explorer.",
    "board_member": "As a viewer, plus board actions, meeting mode, board packs and table downloads.",
    "lcsp_manager": "As a board member, with full detail for their own LCSP(s); public-safe elsewhere.",
    "analyst": "The data explorer and downloads (public-safe disclosure rule).",
    "admin": "Everything an analyst has, plus imports, role assignments and the audit log.",
}

# What each role may do. Pages ask can(...); nothing else names a role.
CAPABILITIES = ("board_actions", "board_pack", "download", "explore", "import", "manage_access",
                "read_audit")
_GRANTS = {
    "viewer": frozenset(),
    "board_member": frozenset({"board_actions", "board_pack", "download"}),
    "lcsp_manager": frozenset({"board_actions", "board_pack", "download"}),
    "analyst": frozenset({"board_actions", "board_pack", "download", "explore"}),
    "admin": frozenset({"board_actions", "board_pack", "download", "explore", "import",
                        "manage_access", "read_audit"}),
}
# Pages (by url path) and the capability each needs; pages not listed are open to every role.
PAGE_CAPABILITY = {"explorer": "explore", "admin": "import"}

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{1,60}$")
MAX_EMAIL_LENGTH = 254


def normalise_email(text: str) -> str:
    """An e-mail address in the form roles are stored under (trimmed, lower case).

    Raises ValueError for anything that is not one address.
    """
    email = str(text or "").strip().lower()
    if len(email) > MAX_EMAIL_LENGTH or not _EMAIL.match(email):
        raise ValueError("not an e-mail address")
    return email


@dataclass(frozen=True)
class Access:
    """Who is looking and what they may see: the signed-in user, their role, their LCSPs."""

    email: str
    name: str
    role: str
    lcsps: tuple[str, ...] = ()  # an LCSP manager's own LCSP codes (sorted)
    mode: str = "oidc"  # "oidc" (signed in) or "demo" (local demo mode, synthetic data only)

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}")

    @property
    def role_label(self) -> str:
        """E.g. "LCSP manager"."""
        return ROLE_LABELS[self.role]

    def can(self, capability: str) -> bool:
        """True when this user's role grants ``capability`` (one of :data:`CAPABILITIES`)."""
        if capability not in CAPABILITIES:
            raise ValueError(f"unknown capability {capability!r}")
        return capability in _GRANTS[self.role]

    def can_open(self, url_path: str) -> bool:
        """True when this user may open the page at ``url_path``."""
        needed = PAGE_CAPABILITY.get(url_path)
        return needed is None or self.can(needed)

    @property
    def detail_lcsps(self) -> frozenset[str]:
        """LCSPs where this user sees full detail (small sensitive counts not withheld)."""
        return frozenset(self.lcsps) if self.role == "lcsp_manager" else frozenset()

    @property
    def scope(self) -> str:
        """The cache scope: two users with the same scope may share cached results, no others.

        Only the disclosure scope changes what a query returns, so everyone without full detail
        shares "public"; an LCSP manager's scope names their LCSPs.
        """
        lcsps = sorted(self.detail_lcsps)
        return "detail:" + ",".join(lcsps) if lcsps else "public"

    def describe(self) -> str:
        """E.g. "LCSP manager (E05011118, E05011119)" for the sidebar and the audit log."""
        if self.role == "lcsp_manager" and self.lcsps:
            return f"{self.role_label} ({', '.join(self.lcsps)})"
        return self.role_label


def access_from_rows(email: str, name: str, rows: list[tuple[str, str | None]], *,
                     mode: str = "oidc") -> Access | None:
    """The Access for ``email`` from its (role, lcsp_code) assignment rows; None when it has no
    role. Several roles (a data error) resolve to the least privileged, never the most."""
    roles = {role for role, _ in rows if role in ROLES}
    if not roles:
        return None
    role = min(roles, key=ROLES.index) if len(roles) > 1 else next(iter(roles))
    lcsps = tuple(sorted({code for r, code in rows if r == role and code}))
    return Access(email=email, name=name or email, role=role, lcsps=lcsps, mode=mode)
