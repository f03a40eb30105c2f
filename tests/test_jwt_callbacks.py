"""JWT callbacks: registration, the revocation check (one query), the caller, accessors."""

import subprocess
import sys
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from flask_jwt_extended import verify_jwt_in_request
from sqlalchemy import event, select, text, update

from authsvc import jwt_callbacks, sessions
from authsvc.extensions import db, jwt
from authsvc.models import LoginSession, User, utcnow
from authsvc.overrides import JWTManager
from tests.helpers import claims_of

ROOT = Path(__file__).resolve().parent.parent


def test_importing_the_app_registers_no_callback():
    """Callbacks are set by `register_jwt` from create_app, never by an import."""
    probe = (
        "import authsvc, authsvc.jwt_callbacks, authsvc.sessions, authsvc.tokens\n"
        "from authsvc.extensions import jwt\n"
        "assert jwt._claims_check is None\n"
        "for name in ('_token_in_blocklist_callback', '_user_lookup_callback',\n"
        "             '_revoked_token_callback', '_invalid_token_callback'):\n"
        "    value = getattr(jwt, name)\n"
        "    assert value is None or value.__module__.startswith('flask_jwt_extended'), name\n"
        "authsvc.create_app({'DATABASE_URL': 'sqlite://'})\n"
        "assert jwt._claims_check is authsvc.jwt_callbacks.check_claims\n"
        "assert jwt._token_in_blocklist_callback is authsvc.jwt_callbacks.is_revoked\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_register_jwt_takes_an_app_or_a_manager(app):
    manager = JWTManager()
    assert jwt_callbacks.register_jwt(manager) is manager
    assert manager._claims_check is jwt_callbacks.check_claims
    assert jwt_callbacks.register_jwt(app) is jwt


def test_the_accessors_read_the_verified_token_only(app, auth, user):
    token = auth.login("ada")["access_token"]
    with app.test_request_context("/", headers={"Authorization": f"Bearer {token}"}):
        # Before verification a token in the header is only a claim.
        assert (jwt_callbacks.current_session_id(), jwt_callbacks.current_user_id()) == (None, None)
        verify_jwt_in_request()
        assert jwt_callbacks.current_session_id() == claims_of(token)["sid"]
        assert jwt_callbacks.current_user_id() == user["id"]
    with app.app_context():
        assert jwt_callbacks.current_session_id() is None


def test_a_revoked_or_expired_session_fails_the_check(app, client, auth, user):
    tokens = [auth.login("ada")["access_token"] for _ in range(3)]
    sids = [claims_of(token)["sid"] for token in tokens]
    with app.app_context():
        db.session.execute(
            update(LoginSession).where(LoginSession.id == sids[0]).values(revoked_at=utcnow())
        )
        db.session.execute(
            update(LoginSession)
            .where(LoginSession.id == sids[1])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
    codes = [client.get("/api/v1/users/me", headers=auth.bearer(t)).status_code for t in tokens]
    assert codes == [401, 401, 200]


def test_an_authenticated_request_costs_one_query_that_never_reads_the_hash(
    app, client, auth, user
):
    """The revocation check loads the caller too; GET /users/me needs nothing more."""
    token = auth.login("ada")["access_token"]
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        response = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert response.status_code == 200 and response.get_json()["username"] == "ada"
    assert len(statements) == 1
    assert "password_hash" not in statements[0]


@contextmanager
def right_after_the_revocation_check(app, change):
    """Run `change` (a statement, committed on a connection of its own) just after
    the revocation check has read the caller: a concurrent writer, deterministically."""
    with app.app_context():
        engine = db.engine
    pending = [change]

    def after(conn, cursor, statement, parameters, context, executemany):
        if pending and statement.startswith("SELECT users.id") and "login_sessions" in statement:
            with engine.begin() as other:
                other.execute(pending.pop())

    event.listen(engine, "after_cursor_execute", after)
    try:
        yield
    finally:
        event.remove(engine, "after_cursor_execute", after)
    assert not pending, "the revocation check did not run"


def test_a_profile_change_applies_to_the_caller_as_stored_now(app, client, auth, user):
    """PATCH /users/me changes the user as stored after the check, not as the check
    read them: an admin's change made in between is neither lost nor hidden."""
    token = auth.login("ada")["access_token"]
    by_an_admin = update(User).values(full_name="Set by an admin")
    with right_after_the_revocation_check(app, by_an_admin):
        response = client.patch(
            "/api/v1/users/me",
            json={"username": "ada_l"},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 200
    assert response.get_json()["username"] == "ada_l"
    assert response.get_json()["full_name"] == "Set by an admin"


def test_a_caller_deactivated_after_the_check_cannot_change_their_profile(app, client, auth, user):
    token = auth.login("ada")["access_token"]
    with right_after_the_revocation_check(app, update(User).values(is_active=False)):
        response = client.patch(
            "/api/v1/users/me",
            json={"full_name": "Too late"},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 401
    with app.app_context():
        assert db.session.execute(select(User.full_name)).scalar_one() != "Too late"


def query_plan(statement, **values):
    """The database's plan for `statement` with `values` bound, one line per step."""
    sql = statement.params(**values).compile(db.engine, compile_kwargs={"literal_binds": True})
    if db.engine.dialect.name == "sqlite":
        return [row[3] for row in db.session.execute(text(f"EXPLAIN QUERY PLAN {sql}"))]
    # A handful of rows: PostgreSQL would rightly scan them all; ask for its index path.
    db.session.execute(text("SET LOCAL enable_seqscan = off"))
    return [row[0].strip() for row in db.session.execute(text(f"EXPLAIN {sql}"))]


def test_sessions_are_found_by_primary_key_whatever_the_statistics_say(app, make_user):
    """The per-request lookups must not scan a user's sessions (which grow without bound).

    Statistics of a young database (one session per user) make SQLite scan
    `ix_login_sessions_user_id` for a query that also constrains the owner;
    long-lived connections keep such plans after the sessions pile up.
    """
    for n in range(20):
        make_user(f"user{n}")
    with app.app_context():
        now = utcnow()
        for user_id in db.session.execute(select(User.id)).scalars():
            db.session.add(
                LoginSession(
                    id=f"{user_id:032x}",
                    user_id=user_id,
                    created_at=now,
                    last_used_at=now,
                    expires_at=now + timedelta(days=1),
                )
            )
        db.session.commit()
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        sid = "0" * 32
        by_owner_too = (
            select(LoginSession.expires_at)
            .join(User, User.id == LoginSession.user_id)
            .where(LoginSession.id == sid, User.id == 1)
        )
        sqlite = db.engine.dialect.name == "sqlite"
        if sqlite:
            # Positive control: the shape the hot path used to have is planned badly here.
            assert any("ix_login_sessions_user_id" in step for step in query_plan(by_owner_too))
        for statement in (jwt_callbacks.SESSION_AND_USER, sessions.SESSION_OWNER):
            plan = query_plan(statement, sid=sid)
            by_key = (
                "USING INDEX sqlite_autoindex_login_sessions" if sqlite else "pk_login_sessions"
            )
            assert any(by_key in step for step in plan), plan
            assert not any("ix_login_sessions_user_id" in step for step in plan), plan
            db.session.rollback()


def test_the_revocation_check_leaves_no_pooled_connection_in_autocommit(app, client, auth, user):
    """On PostgreSQL the check runs outside a transaction; what it returns to the
    pool must be transactional again, or later writes would lose their atomicity."""
    token = auth.login("ada")["access_token"]
    for _ in range(3):
        response = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
    with app.app_context():
        pool = db.engine.pool
        connections = [db.engine.connect() for _ in range(pool.checkedin())]
        try:
            assert connections
            for connection in connections:
                assert connection.get_isolation_level() != "AUTOCOMMIT"
                dbapi = connection.connection.dbapi_connection
                if db.engine.dialect.name == "postgresql":
                    assert dbapi.autocommit is False
                else:  # pysqlite's own autocommit mode
                    assert dbapi.isolation_level is not None
        finally:
            for connection in connections:
                connection.close()
