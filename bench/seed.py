"""Data for the benchmark: users, filler rows in the token tables, live sessions.

Users and filler rows go in with bulk INSERTs (one password hash shared by
every user: hashing thousands at the production cost would take minutes and
measure nothing). Sessions the load uses are opened by authsvc's own
`sessions.start`, so their tokens are the real thing.
"""

import base64
import uuid
from datetime import timedelta

from sqlalchemy import func, insert, select, text

from authsvc import clients, passwords
from authsvc import sessions as login_sessions
from authsvc.extensions import db
from authsvc.models import LoginSession, RefreshToken, User, utcnow

PASSWORD = "bench-Password-7431"
CHUNK = 10_000


def username(index):
    return f"bench-user-{index}"


def seed_users(count):
    """Insert `count` active users sharing one hash of PASSWORD; return their ids."""
    password_hash = passwords.hash_password(PASSWORD)
    now = utcnow()
    for start in range(0, count, CHUNK):
        rows = [
            {
                "email": f"{username(i)}@example.com",
                "username": username(i),
                "username_key": username(i),
                "full_name": f"Bench User {i}",
                "password_hash": password_hash,
                "is_active": True,
                "is_admin": False,
                "created_at": now,
                "updated_at": now,
            }
            for i in range(start, min(count, start + CHUNK))
        ]
        db.session.execute(insert(User.__table__), rows)
    db.session.commit()
    return db.session.execute(select(User.id).order_by(User.id)).scalars().all()


def token_rows():
    return db.session.execute(select(func.count()).select_from(RefreshToken)).scalar_one()


def grow_token_tables(target, user_ids):
    """Add filler until `refresh_tokens` holds `target` rows; return how many were added.

    The filler looks like a service's history: sessions spread over the users,
    each with a chain of two refresh tokens (the first rotated away), started
    over the last 40 days (so a quarter have expired and await pruning), every
    tenth one revoked.
    """
    missing = target - token_rows()
    now = utcnow()
    added = 0
    while added < missing:
        sessions, refresh = [], []
        for n in range(min(CHUNK, (missing - added + 1) // 2)):
            sid = uuid.uuid4().hex
            started = now - timedelta(days=n % 40, seconds=n)
            expires = started + timedelta(days=30)
            sessions.append(
                {
                    "id": sid,
                    "user_id": user_ids[n % len(user_ids)],
                    "created_at": started,
                    "last_used_at": started,
                    "expires_at": expires,
                    "revoked_at": started + timedelta(hours=1) if n % 10 == 0 else None,
                    "user_agent": "authsvc-bench filler",
                    "ip": "127.0.0.1",
                }
            )
            first, second = str(uuid.uuid4()), str(uuid.uuid4())
            chain = [(first, None, started + timedelta(minutes=15)), (second, first, None)]
            for jti, parent, rotated in chain:
                refresh.append(
                    {
                        "jti": jti,
                        "session_id": sid,
                        "parent_jti": parent,
                        "created_at": started,
                        "expires_at": expires,
                        "rotated_at": rotated,
                    }
                )
        refresh = refresh[: missing - added]
        db.session.execute(insert(LoginSession.__table__), sessions)
        db.session.execute(insert(RefreshToken.__table__), refresh)
        db.session.commit()
        added += len(refresh)
    analyze()
    return added


def analyze():
    """Refresh the planner's statistics, as an operator would after a bulk load.

    On SQLite, also fold the write-ahead log back into the database file. On
    PostgreSQL, VACUUM too: otherwise autovacuum would take it up on its own
    during the next measurement, and compete with it for the CPU.
    """
    if db.engine.dialect.name == "sqlite":
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        with db.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM (ANALYZE)")


def open_sessions(user_ids, count):
    """Log `count` sessions in through authsvc's own code; return their token pairs."""
    client = login_sessions.Client(ip="127.0.0.1", user_agent="authsvc-bench")
    users = (
        db.session.execute(select(User).where(User.id.in_(user_ids[: max(1, count)])))
        .scalars()
        .all()
    )
    pairs = []
    for n in range(count):
        pairs.append(login_sessions.start(users[n % len(users)], client).tokens)
        if n % 500 == 499:
            db.session.commit()
    db.session.commit()
    return pairs


def prepare(directory, *, users, token_rows, sessions, access_sessions=None, refresh_sets=1):
    """Seed a migrated database and write wrk's data files under `directory`.

    Returns the user ids and the files: `access` (access tokens of
    `access_sessions` distinct sessions), `introspect` (the same tokens, each
    after the Basic credentials of an introspection client), `refresh`
    and `refresh-warm` (refresh tokens of distinct sessions; `refresh-sets`
    lists `refresh` and `refresh_sets - 1` more such files), `login`
    (username and password). Needs an app context.
    """
    user_ids = seed_users(users)
    grow_token_tables(token_rows, user_ids)
    files = {}
    refresh = ["refresh", *(f"refresh-{n}" for n in range(2, refresh_sets + 1))]
    access = [pair["access_token"] for pair in open_sessions(user_ids, access_sessions or sessions)]
    files["access"] = write_lines(directory / "access.txt", access)
    basic = base64.b64encode(":".join(clients.create("bench")).encode()).decode()
    files["introspect"] = write_lines(
        directory / "introspect.txt", [f"{basic}\t{token}" for token in access]
    )
    for name in ("refresh-warm", *refresh):
        pairs = open_sessions(user_ids, sessions)
        files[name] = write_lines(directory / f"{name}.txt", [p["refresh_token"] for p in pairs])
    files["refresh-sets"] = [files[name] for name in refresh]
    logins = [f"{username(i)}\t{PASSWORD}" for i in range(min(users, 100))]
    files["login"] = write_lines(directory / "login.txt", logins)
    return user_ids, files


def write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path
