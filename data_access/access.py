"""The access store: who holds which role (``user_roles``, ``user_lcsps``) and the audit log.

Both are written while the dashboard runs, so they live where small writes are cheap:

- on PostgreSQL, in the dashboard's own database (Alembic revision 0003 creates the tables);
- beside the embedded DuckDB file, in a SQLite file (``var/csp_dashboard.access.sqlite``):
  every DuckDB write copies the whole database (see :mod:`data_access.engine`), far too heavy for
  one audit line per sensitive view;
- or wherever ``ACCESS_DATABASE_URL`` points.

The first administrator is made from the command line; after that, administrators assign roles
on the Load data page:

    python -m data_access.access grant alice@council.gov.uk admin
    python -m data_access.access grant bob@council.gov.uk lcsp_manager --lcsp E05011118
    python -m data_access.access revoke bob@council.gov.uk
    python -m data_access.access list
    python -m data_access.access audit --limit 50
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from data_access import engine as eng
from data_access import migrate, schema
from data_access.frames import read_frame
from kpis.access import ROLES, normalise_email

AUDIT_ACTIONS = ("view", "export", "import", "grant", "revoke", "denied")
MAX_DETAIL_LENGTH = 2_000
SQLITE_BUSY_TIMEOUT_S = 10


def access_url(database_url: str) -> str:
    """Where roles and the audit log live for the dashboard database at ``database_url``."""
    explicit = os.environ.get("ACCESS_DATABASE_URL", "").strip()
    if explicit:
        return explicit
    if not eng.is_duckdb(database_url):
        return database_url
    path = eng.duckdb_path(database_url)
    return f"sqlite:///{path.with_name(path.stem + '.access.sqlite')}"


def _is_sqlite(url: str) -> bool:
    return sa.engine.make_url(url).get_backend_name() == "sqlite"


def make_access_engine(url: str) -> sa.Engine:
    """A writable engine on the access store at ``url`` (see :func:`access_url`)."""
    if _is_sqlite(url):
        database = sa.engine.make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

        @sa.event.listens_for(engine, "connect")
        def _wal(dbapi_connection, _record):  # many readers alongside one writer
            dbapi_connection.execute("PRAGMA journal_mode=WAL")

        return engine
    return eng.make_engine(url)


def ensure_access_store(engine: sa.Engine) -> None:
    """Create the access tables when missing (SQLite), or bring the schema to the newest
    revision (any other database, where the tables belong to the dashboard's schema)."""
    if engine.dialect.name == "sqlite":
        schema.metadata.create_all(engine, tables=list(schema.ACCESS_TABLES), checkfirst=True)
        return
    with engine.connect() as conn:
        if sa.inspect(conn).has_table("audit_log"):
            return
    with engine.begin() as conn:
        migrate.upgrade(conn)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


def holds_only_sample_data(engine: sa.Engine) -> bool:
    """True when the dashboard database holds the synthetic sample and nothing imported: the
    only data the local demo mode (no sign-in) may show."""
    info, imports = schema.dataset_info, schema.imports
    with engine.connect() as conn:
        synthetic = conn.execute(sa.select(info.c.value).where(info.c.key == "synthetic")).scalar()
        real = conn.execute(sa.select(sa.func.count()).select_from(imports)
                            .where(imports.c.kind != "sample")).scalar_one()
    return str(synthetic or "").strip().lower() == "true" and int(real) == 0


# --- roles ----------------------------------------------------------------------------------

def load_assignments(engine: sa.Engine, email: str) -> list[tuple[str, str | None]]:
    """The (role, lcsp_code) rows for ``email`` (lcsp_code None where the user has no LCSPs)."""
    roles, lcsps = schema.user_roles, schema.user_lcsps
    stmt = (sa.select(roles.c.role, lcsps.c.lcsp_code)
            .select_from(roles.outerjoin(lcsps, lcsps.c.email == roles.c.email))
            .where(roles.c.email == sa.bindparam("email")))
    with engine.connect() as conn:
        return [(r.role, r.lcsp_code) for r in conn.execute(stmt, {"email": email})]


def load_users(engine: sa.Engine) -> pd.DataFrame:
    """Every assignment: columns email, display_name, role, lcsps (comma-separated codes),
    granted_by, granted_at; in e-mail order."""
    roles, lcsps = schema.user_roles, schema.user_lcsps
    users = read_frame(engine, sa.select(roles).order_by(roles.c.email))
    areas = read_frame(engine, sa.select(lcsps).order_by(lcsps.c.email, lcsps.c.lcsp_code))
    joined = areas.groupby("email")["lcsp_code"].agg(", ".join).to_dict() if len(areas) else {}
    users["lcsps"] = [joined.get(email, "") for email in users["email"]]
    return users[["email", "display_name", "role", "lcsps", "granted_by", "granted_at"]]


def _check_role(role: str, lcsps: Sequence[str]) -> None:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if role == "lcsp_manager" and not lcsps:
        raise ValueError("an LCSP manager needs at least one LCSP")
    if role != "lcsp_manager" and lcsps:
        raise ValueError("only an LCSP manager has LCSPs of their own")


def assign_role(engine: sa.Engine, email: str, role: str, *, granted_by: str,
                lcsps: Iterable[str] = (), display_name: str | None = None,
                granted_by_role: str = "admin") -> str:
    """Give ``email`` the one ``role`` (replacing any other), with ``lcsps`` for an LCSP manager;
    logged in the audit log. Returns the normalised e-mail. Raises ValueError for bad input."""
    email = normalise_email(email)
    codes = sorted({str(c).strip() for c in lcsps if str(c).strip()})
    _check_role(role, codes)
    now = _now()
    with engine.begin() as conn:
        conn.execute(schema.user_lcsps.delete().where(schema.user_lcsps.c.email == email))
        conn.execute(schema.user_roles.delete().where(schema.user_roles.c.email == email))
        conn.execute(schema.user_roles.insert().values(
            email=email, role=role, display_name=(display_name or None), granted_by=granted_by,
            granted_at=now))
        if codes:
            conn.execute(schema.user_lcsps.insert(), [{"email": email, "lcsp_code": c} for c in codes])
        detail = f"{email} is now {role}" + (f" for {', '.join(codes)}" if codes else "")
        _insert_event(conn, email=granted_by, role=granted_by_role, action="grant", page="access",
                      detail=detail, at=now)
    return email


def revoke_role(engine: sa.Engine, email: str, *, revoked_by: str,
                revoked_by_role: str = "admin") -> bool:
    """Remove every role of ``email`` (logged); False when it had none."""
    email = normalise_email(email)
    with engine.begin() as conn:
        conn.execute(schema.user_lcsps.delete().where(schema.user_lcsps.c.email == email))
        gone = conn.execute(schema.user_roles.delete().where(schema.user_roles.c.email == email))
        if not gone.rowcount:
            return False
        _insert_event(conn, email=revoked_by, role=revoked_by_role, action="revoke",
                      page="access", detail=f"{email} has no role now", at=_now())
    return True


def count_admins(engine: sa.Engine) -> int:
    """How many users hold the admin role (the last one may not be removed from the app)."""
    stmt = sa.select(sa.func.count()).where(schema.user_roles.c.role == "admin")
    with engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


# --- the audit log --------------------------------------------------------------------------

def _insert_event(conn: sa.Connection, *, email: str, role: str, action: str, page: str,
                  detail: str, file_name: str | None = None, rows: int | None = None,
                  at: dt.datetime | None = None) -> None:
    if action not in AUDIT_ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    conn.execute(schema.audit_log.insert().values(
        occurred_at=at or _now(), user_email=str(email)[:254], user_role=str(role)[:20],
        action=action, page=str(page)[:40], detail=str(detail)[:MAX_DETAIL_LENGTH],
        file_name=None if file_name is None else str(file_name)[:200], rows=rows))


def record_event(engine: sa.Engine, *, email: str, role: str, action: str, page: str,
                 detail: str, file_name: str | None = None, rows: int | None = None) -> None:
    """Append one line to the audit log (its own transaction)."""
    with engine.begin() as conn:
        _insert_event(conn, email=email, role=role, action=action, page=page, detail=detail,
                      file_name=file_name, rows=rows)


def load_audit(engine: sa.Engine, *, since: dt.date | None = None, until: dt.date | None = None,
               user: str | None = None, action: str | None = None,
               limit: int = 1_000) -> pd.DataFrame:
    """Audit lines, newest first: columns occurred_at (UTC), user_email, user_role, action, page,
    detail, file_name, rows. ``user`` matches part of the e-mail, literally."""
    log = schema.audit_log
    stmt = sa.select(log.c.occurred_at, log.c.user_email, log.c.user_role, log.c.action,
                     log.c.page, log.c.detail, log.c.file_name, log.c.rows)
    if since is not None:
        stmt = stmt.where(log.c.occurred_at >= dt.datetime.combine(since, dt.time()))
    if until is not None:
        stmt = stmt.where(log.c.occurred_at < dt.datetime.combine(until + dt.timedelta(days=1),
                                                                  dt.time()))
    if user:
        stmt = stmt.where(log.c.user_email.contains(user.strip().lower(), autoescape=True))
    if action:
        stmt = stmt.where(log.c.action == action)
    stmt = stmt.order_by(log.c.occurred_at.desc(), log.c.event_id.desc()).limit(max(1, int(limit)))
    return read_frame(engine, stmt)


# --- command line ---------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m data_access.access",
                                     description="Assign dashboard roles and read the audit log.")
    parser.add_argument("--database-url", help="the dashboard database (default: DATABASE_URL or "
                                               "the embedded DuckDB file)")
    sub = parser.add_subparsers(dest="command", required=True)
    grant = sub.add_parser("grant", help="give a user a role (replaces any other)")
    grant.add_argument("email")
    grant.add_argument("role", choices=ROLES)
    grant.add_argument("--lcsp", action="append", default=[], help="an LCSP manager's LCSP code "
                                                                   "(repeat for several)")
    grant.add_argument("--name", help="display name")
    revoke = sub.add_parser("revoke", help="remove a user's role")
    revoke.add_argument("email")
    sub.add_parser("list", help="list users and roles")
    audit = sub.add_parser("audit", help="print the newest audit lines")
    audit.add_argument("--limit", type=int, default=50)
    return parser


def _known_lcsps(database_url: str) -> set[str] | None:
    """LCSP codes in the dashboard database (None when it cannot be read)."""
    try:
        engine = eng.reader_engine(database_url)
        try:
            stmt = sa.select(schema.areas.c.code).where(schema.areas.c.level == "lcsp")
            with engine.connect() as conn:
                return {r.code for r in conn.execute(stmt)}
        finally:
            engine.dispose()
    except Exception:
        return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    database_url = args.database_url or eng.database_url()
    engine = make_access_engine(access_url(database_url))
    by = f"{os.environ.get('USER') or 'command line'} (command line)"
    try:
        ensure_access_store(engine)
        if args.command == "grant":
            known = _known_lcsps(database_url)
            unknown = sorted(set(args.lcsp) - known) if known is not None else []
            if unknown:
                print(f"Not an LCSP of this partnership: {', '.join(unknown)}", file=sys.stderr)
                return 1
            email = assign_role(engine, args.email, args.role, lcsps=args.lcsp, granted_by=by,
                                display_name=args.name)
            print(f"{email}: {args.role}" + (f" ({', '.join(sorted(args.lcsp))})" if args.lcsp else ""))
        elif args.command == "revoke":
            print("revoked" if revoke_role(engine, args.email, revoked_by=by) else "no such user")
        elif args.command == "list":
            print(load_users(engine).to_string(index=False))
        else:
            print(load_audit(engine, limit=args.limit).to_string(index=False))
    except ValueError as exc:
        print(f"{args.command}: {exc}", file=sys.stderr)
        return 1
    except sa.exc.SQLAlchemyError as exc:
        print(f"The access store at {eng.safe_url(str(engine.url))} could not be used: "
              f"{exc.__class__.__name__}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
