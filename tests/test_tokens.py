"""Token rules: claims, session lifetime, rotation chain."""

from contextlib import contextmanager
from datetime import timedelta

import jwt as pyjwt
from sqlalchemy import event, select, text, update

from authsvc import tokens
from authsvc.extensions import db
from authsvc.models import LoginSession, RefreshToken, User, utcnow
from tests.conftest import TEST_SECRET_KEY


def claims_of(token):
    return pyjwt.decode(token, TEST_SECRET_KEY, algorithms=["HS256"], audience="authsvc")


def test_every_token_carries_the_contract_claims(auth, user):
    pair = auth.login("ada")
    access, refresh = claims_of(pair["access_token"]), claims_of(pair["refresh_token"])
    for claims in (access, refresh):
        assert {"sub", "jti", "iat", "exp", "type", "sid"} <= set(claims)
        assert claims["sub"] == str(user["id"])
    assert (access["type"], refresh["type"]) == ("access", "refresh")
    assert access["sid"] == refresh["sid"]
    assert access["exp"] - access["iat"] == 900


def test_rotation_does_not_extend_the_session(app, client, auth, user):
    first = auth.login("ada")
    second = client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    ).get_json()
    assert claims_of(second["refresh_token"])["exp"] == claims_of(first["refresh_token"])["exp"]
    with app.app_context():
        rows = db.session.execute(select(RefreshToken)).scalars().all()
        assert len(rows) == 2
        child = next(row for row in rows if row.parent_jti)
        assert child.parent_jti == claims_of(first["refresh_token"])["jti"]


def test_no_access_token_outlives_its_session(app, client, auth, user):
    pair = auth.login("ada")
    with app.app_context():
        session = db.session.execute(select(LoginSession)).scalar_one()
        session.expires_at = utcnow() + timedelta(seconds=120)
        db.session.commit()
    response = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    new = response.get_json()
    assert 0 < new["expires_in"] <= 120
    assert claims_of(new["access_token"])["exp"] <= claims_of(new["refresh_token"])["exp"]


def test_expired_session_refuses_its_tokens(app, client, auth, user):
    pair = auth.login("ada")
    with app.app_context():
        session = db.session.execute(select(LoginSession)).scalar_one()
        session.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    headers = auth.bearer(pair["access_token"])
    assert client.get("/api/v1/users/me", headers=headers).status_code == 401
    refresh = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refresh.status_code == 401


def test_refresh_records_the_client_on_its_session(app, client, auth, user):
    """DESIGN: a session's `ip` and `user_agent` are those of its latest login or refresh."""
    pair = auth.login("ada")
    with app.app_context():
        before = db.session.execute(select(LoginSession)).scalar_one()
        created_at, expires_at, last_used_at = (
            before.created_at,
            before.expires_at,
            before.last_used_at,
        )
    response = client.post(
        "/api/v1/auth/refresh",
        json={"refresh_token": pair["refresh_token"]},
        headers={"User-Agent": "phone-app/2"},
        environ_base={"REMOTE_ADDR": "10.1.2.3"},
    )
    assert response.status_code == 200
    with app.app_context():
        after = db.session.execute(select(LoginSession)).scalar_one()
        assert (after.ip, after.user_agent) == ("10.1.2.3", "phone-app/2")
        assert after.last_used_at >= last_used_at
        assert (after.created_at, after.expires_at) == (created_at, expires_at)


def test_a_refused_refresh_leaves_the_chain_untouched(app, client, auth, user):
    """A refresh refused for an inactive user retires nothing: it is no later 'reuse'."""
    pair = auth.login("ada")
    body = {"refresh_token": pair["refresh_token"]}
    with app.app_context():
        db.session.execute(update(User).where(User.id == user["id"]).values(is_active=False))
        db.session.commit()
    assert client.post("/api/v1/auth/refresh", json=body).status_code == 401
    with app.app_context():
        [row] = db.session.execute(select(RefreshToken)).scalars().all()
        assert row.rotated_at is None
        db.session.execute(update(User).where(User.id == user["id"]).values(is_active=True))
        db.session.commit()
    assert client.post("/api/v1/auth/refresh", json=body).status_code == 200


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
        for statement in (tokens.SESSION_AND_USER, tokens.SESSION_OWNER):
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
