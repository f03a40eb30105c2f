"""After the load: what the server acknowledged still holds, and the database is sound."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import jwt as pyjwt
from sqlalchemy import bindparam, create_engine, text
from sqlalchemy.pool import NullPool

from .client import LOGIN, ME, REFRESH, ApiClient
from .workload import PASSWORD


def _session_id(pair):
    return pyjwt.decode(pair["refresh_token"], options={"verify_signature": False})["sid"]


def _in_parallel(base_url, items, check, workers):
    """Run `check(client, item)` over `items` from `workers` threads; return the failures."""
    local = threading.local()

    def run(item):
        if not hasattr(local, "client"):
            local.client = ApiClient(base_url)
        problem = check(local.client, item)
        return None if problem is None else f"{problem}: {str(item)[:80]}"

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [failure for failure in pool.map(run, items) if failure]


def _can_log_in(client, name):
    reply = client.post(LOGIN, {"username": name, "password": PASSWORD})
    return None if reply.status == 200 else f"login {reply.status}"


def _is_refused(client, pair):
    access = client.get(ME, token=pair["access_token"]).status
    refresh = client.post(REFRESH, {"refresh_token": pair["refresh_token"]}).status
    return None if (access, refresh) == (401, 401) else f"ended pair answered {access}/{refresh}"


def _still_works(client, pair):
    status = client.get(ME, token=pair["access_token"]).status
    return None if status == 200 else f"live pair answered {status}"


def _spread(items, limit):
    """At most `limit` items, evenly spread over `items` (all of them without a limit)."""
    if limit is None or len(items) <= limit:
        return list(items)
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]


def verify_acknowledged(base_url, database_url, ledger, *, workers=8, token_sample=None):
    """Check that every acknowledged registration can log in, that the tokens of every
    acknowledged logout are refused and those of untouched logins accepted (over HTTP,
    or a spread sample of `token_sample` pairs; in the database for all of them);
    return (figures, failures)."""
    started = time.monotonic()
    ended = _spread(ledger.ended, token_sample)
    live = _spread(ledger.live, token_sample)
    failures = []
    failures += _in_parallel(base_url, ledger.registered, _can_log_in, workers)
    failures += _in_parallel(base_url, ended, _is_refused, workers)
    failures += _in_parallel(base_url, live, _still_works, workers)
    ended_sids = sorted({_session_id(pair) for pair in ledger.ended})
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            query = text(
                "SELECT count(*) FROM login_sessions WHERE revoked_at IS NULL AND id IN :ids"
            ).bindparams(bindparam("ids", expanding=True))
            for start in range(0, len(ended_sids), 500):
                still_live = connection.execute(query, {"ids": ended_sids[start : start + 500]})
                if still_live.scalar_one():
                    failures.append("a session ended by an acknowledged logout is live again")
            names = text("SELECT count(*) FROM users WHERE username IN :names").bindparams(
                bindparam("names", expanding=True)
            )
            found = sum(
                connection.execute(names, {"names": ledger.registered[i : i + 500]}).scalar_one()
                for i in range(0, len(ledger.registered), 500)
            )
            if found != len(ledger.registered):
                failures.append(f"{len(ledger.registered) - found} acknowledged users missing")
    finally:
        engine.dispose()
    figures = {
        "acknowledged registrations that log in": len(ledger.registered),
        "sessions ended by acknowledged logouts (in the database)": len(ended_sids),
        "their token pairs refused over HTTP": len(ended),
        "untouched logins accepted": len(live),
        "verification": f"{time.monotonic() - started:.1f} s",
    }
    return figures, failures


PG_ORPHANS = {
    "sessions without user": "SELECT count(*) FROM login_sessions s "
    "LEFT JOIN users u ON u.id = s.user_id WHERE u.id IS NULL",
    "tokens without session": "SELECT count(*) FROM refresh_tokens t "
    "LEFT JOIN login_sessions s ON s.id = t.session_id WHERE s.id IS NULL",
    "duplicate emails": "SELECT count(*) FROM (SELECT email FROM users "
    "GROUP BY email HAVING count(*) > 1) AS d",
    "duplicate usernames": "SELECT count(*) FROM (SELECT username_key FROM users "
    "GROUP BY username_key HAVING count(*) > 1) AS d",
}


def integrity_problems(database_url):
    """`PRAGMA integrity_check` and `foreign_key_check` on SQLite; on PostgreSQL,
    validated constraints, no orphan rows and no duplicate keys. Empty when sound."""
    engine = create_engine(database_url, poolclass=NullPool)
    problems = []
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                result = [row[0] for row in connection.exec_driver_sql("PRAGMA integrity_check")]
                if result != ["ok"]:
                    problems.append(f"integrity_check: {result[:5]}")
                orphans = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if orphans:
                    problems.append(f"foreign_key_check: {orphans[:5]}")
            else:
                invalid = connection.execute(
                    text("SELECT conname FROM pg_constraint WHERE NOT convalidated")
                ).fetchall()
                if invalid:
                    problems.append(f"constraints not validated: {invalid}")
                for name, query in PG_ORPHANS.items():
                    count = connection.execute(text(query)).scalar_one()
                    if count:
                        problems.append(f"{count} {name}")
    finally:
        engine.dispose()
    return problems
