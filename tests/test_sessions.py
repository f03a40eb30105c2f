"""Sessions: lifetime, rotation chain, what "live" means, amr, and what use cases return."""

import threading
from datetime import timedelta

import flask
import pytest
from sqlalchemy import func, select, update

from authsvc import accounts, jwt_callbacks, passwords, sessions, tokens
from authsvc.errors import TokenRejected
from authsvc.extensions import db
from authsvc.models import LoginSession, RefreshToken, User, is_live, live_clause, utcnow
from tests.helpers import LOGIN, ME, PASSWORD, bearer, claims_of

USERS = "/api/v1/users"

NOWHERE = sessions.Client(ip=None, user_agent=None)


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


def test_live_means_the_same_in_sql_and_in_python(app, user):
    """`live_clause` and `is_live` are one rule: they pick the same sessions."""
    now = utcnow()
    cases = {
        "live": dict(expires_at=now + timedelta(hours=1)),
        "revoked": dict(expires_at=now + timedelta(hours=1), revoked_at=now),
        "expired": dict(expires_at=now - timedelta(seconds=1)),
        "expires-now": dict(expires_at=now),
        "revoked-and-expired": dict(expires_at=now - timedelta(hours=1), revoked_at=now),
    }
    with app.app_context():
        for n, fields in enumerate(cases.values()):
            db.session.add(
                LoginSession(
                    id=f"{n:032x}", user_id=user["id"], created_at=now, last_used_at=now, **fields
                )
            )
        db.session.commit()
        in_sql = set(db.session.execute(select(LoginSession.id).where(live_clause(now))).scalars())
        rows = db.session.execute(select(LoginSession)).scalars().all()
        in_python = {row.id for row in rows if is_live(row, now)}
    assert in_sql == in_python == {f"{0:032x}"}  # only "live"


def test_a_session_keeps_its_amr_through_every_refresh(app, client, user):
    """MFA and passkeys start sessions with other methods; refreshes never drop them."""
    with app.app_context():
        account = db.session.get(User, user["id"])
        started = sessions.start(account, NOWHERE, amr=("pwd", "otp", "mfa"))
        db.session.commit()
        stored = db.session.get(LoginSession, started.session_id).amr
    assert stored == ["pwd", "otp", "mfa"]
    pair = started.tokens
    assert claims_of(pair["access_token"])["amr"] == ["pwd", "otp", "mfa"]
    for _ in range(2):
        response = client.post(
            "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
        )
        assert response.status_code == 200
        pair = response.get_json()
        assert claims_of(pair["access_token"])["amr"] == ["pwd", "otp", "mfa"]
        assert claims_of(pair["access_token"])["sid"] == started.session_id


def test_a_password_login_starts_a_pwd_session(app, auth, user):
    sid = claims_of(auth.login("ada")["access_token"])["sid"]
    with app.app_context():
        assert db.session.get(LoginSession, sid).amr == ["pwd"]


def test_rotate_says_what_happened(app, auth, user):
    """The first use rotates; a second use of the same token is reuse and revokes the session."""
    pair = auth.login("ada")
    with app.app_context():
        claims = tokens.decode_refresh_token(pair["refresh_token"])
        first = sessions.rotate(claims, NOWHERE)
        assert (first.session_id, first.reuse_detected) == (claims["sid"], False)
        assert claims_of(first.tokens["refresh_token"])["sid"] == claims["sid"]
        again = sessions.rotate(claims, NOWHERE)
        assert (again.session_id, again.reuse_detected, again.tokens) == (claims["sid"], True, None)
        assert db.session.get(LoginSession, claims["sid"]).revoked_at is not None
        # Revoked: even the token the first rotation issued is refused now, and not as reuse.
        with pytest.raises(TokenRejected):
            sessions.rotate(tokens.decode_refresh_token(first.tokens["refresh_token"]), NOWHERE)


def test_logout_all_and_end_one_count_only_live_sessions(app, auth, user):
    sids = [claims_of(auth.login("ada")["access_token"])["sid"] for _ in range(3)]
    with app.app_context():
        db.session.execute(
            update(LoginSession).where(LoginSession.id == sids[0]).values(expires_at=utcnow())
        )
        db.session.commit()
        assert not sessions.end_own_session(user["id"], sids[0])  # expired: not live
        assert sessions.end_own_session(user["id"], sids[1])
        assert not sessions.end_own_session(user["id"], sids[1])  # already ended
        assert [s.id for s in sessions.list_sessions(user["id"])] == [sids[2]]
        assert sessions.logout_all(user["id"]) == 1
        assert sessions.list_sessions(user["id"]) == []


def test_register_and_login_return_the_session_they_started(app, user):
    with app.app_context():
        _user, started = accounts.authenticate("ada", PASSWORD, NOWHERE)
        assert claims_of(started.tokens["access_token"])["sid"] == started.session_id
        assert db.session.get(LoginSession, started.session_id).user_id == user["id"]


@pytest.mark.parametrize("module", [accounts, sessions, tokens])
def test_use_cases_keep_no_request_state(module):
    """Domain modules return what happened; they neither write nor read `flask.g`."""
    held = vars(module).values()
    assert not any(value is flask.g or value is flask for value in held)


def test_the_http_layer_keeps_its_request_state():
    """Positive control for the test above: the JWT callbacks do hold `flask.g`."""
    assert any(value is flask.g for value in vars(jwt_callbacks).values())


# --- a login racing a change of the account ----------------------------------------
# bcrypt checks the hash read before the login writes its session (or MFA
# challenge). A password change or deactivation by another request must not
# leave that login alive, whichever of the two commits first.

NEW_PASSWORD = "a-brand-new-passphrase"


def change_password(client, user, user_headers, admin_headers):
    body = {"password": NEW_PASSWORD, "current_password": PASSWORD}
    return client.patch(ME, json=body, headers=user_headers)


def deactivate(client, user, user_headers, admin_headers):
    return client.patch(f"{USERS}/{user['id']}", json={"is_active": False}, headers=admin_headers)


def rename(client, user, user_headers, admin_headers):  # the control: ends nothing
    return client.patch(ME, json={"full_name": "Ada King"}, headers=user_headers)


def set_the_same_password(client, user, user_headers, admin_headers):
    """A new hash of the same password (as a concurrent rehash writes): the login
    proved the password the account has, and stands."""
    body = {"password": PASSWORD}
    return client.patch(f"{USERS}/{user['id']}", json=body, headers=admin_headers)


def run_beside(monkeypatch, module, name, change, *, wait):
    """After `module.name` returns in the login, `change` runs in a second thread
    (its own request and connection): the login goes on once the change is done
    (`wait`), or after a second, the change blocked or not."""
    original = getattr(module, name)
    outcome = {}

    def wrapper(*args, **kwargs):
        result = original(*args, **kwargs)
        if "thread" not in outcome:
            outcome["thread"] = threading.Thread(
                target=lambda: outcome.update(reply=change()), daemon=True
            )
            outcome["thread"].start()
            outcome["thread"].join(timeout=None if wait else 1)
            outcome["blocked"] = outcome["thread"].is_alive()
        return result

    monkeypatch.setattr(module, name, wrapper)
    return outcome


def login_racing(app, client, monkeypatch, user, headers, admin, change, *, module, name, wait):
    admin_headers = bearer(accounts_login(client, admin)["access_token"])
    outcome = run_beside(
        monkeypatch,
        module,
        name,
        lambda: change(app.test_client(), user, headers, admin_headers),
        wait=wait,
    )
    reply = client.post(LOGIN, json={"username": user["username"], "password": PASSWORD})
    outcome["thread"].join(timeout=30)
    monkeypatch.undo()
    assert outcome["reply"].status_code == 200, outcome["reply"].get_json()
    return reply, outcome


def accounts_login(client, user):
    reply = client.post(LOGIN, json={"username": user["username"], "password": PASSWORD})
    assert reply.status_code == 200, reply.get_json()
    return reply.get_json()


@pytest.mark.parametrize(
    "change, refused",
    [(change_password, 401), (deactivate, 403), (rename, None), (set_the_same_password, None)],
)
def test_a_change_committed_during_the_password_check_refuses_the_login(
    app, client, auth, user, admin, monkeypatch, change, refused
):
    headers = auth.headers_for(user)
    reply, _ = login_racing(
        app,
        client,
        monkeypatch,
        user,
        headers,
        admin,
        change,
        module=passwords,
        name="verify_login",
        wait=True,
    )
    if refused is None:  # the control: the login stands, its session live
        assert reply.status_code == 200, reply.get_json()
        assert client.get(ME, headers=bearer(reply.get_json()["access_token"])).status_code == 200
        return
    assert reply.status_code == refused, reply.get_json()
    assert reply.mimetype == "application/problem+json"
    if refused == 403:
        assert reply.get_json()["detail"] == "Account is disabled"
    with app.app_context():
        count = select(func.count(LoginSession.id)).where(LoginSession.user_id == user["id"])
        assert db.session.execute(count).scalar_one() == 1  # the one `headers` came from


@pytest.mark.parametrize("change, ends", [(change_password, True), (rename, False)])
def test_a_change_during_the_login_commit_waits_for_it_and_ends_its_session(
    app, client, auth, user, admin, monkeypatch, change, ends
):
    headers = auth.headers_for(user)
    reply, outcome = login_racing(
        app,
        client,
        monkeypatch,
        user,
        headers,
        admin,
        change,
        module=accounts,
        name="_check_still_proved",
        wait=False,
    )
    assert outcome["blocked"], "the change did not wait for the login's lock"
    assert reply.status_code == 200, reply.get_json()
    me = client.get(ME, headers=bearer(reply.get_json()["access_token"]))
    assert me.status_code == (401 if ends else 200), me.get_json()


@pytest.mark.parametrize("change, ends", [(change_password, True), (rename, False)])
@pytest.mark.parametrize(
    "module, name, wait",
    [(passwords, "verify_login", True), (accounts, "_check_still_proved", False)],
    ids=["during-the-check", "during-the-commit"],
)
def test_an_mfa_login_racing_a_password_change_leaves_no_live_mfa_token(
    app, client, mfa, user, admin, monkeypatch, change, ends, module, name, wait
):
    enrolled = mfa.enable(user)
    admin_headers = bearer(mfa.tokens(admin)["access_token"])
    outcome = run_beside(
        monkeypatch,
        module,
        name,
        lambda: change(app.test_client(), user, enrolled.headers, admin_headers),
        wait=wait,
    )
    reply = mfa.login(user)
    outcome["thread"].join(timeout=30)
    monkeypatch.undo()
    assert outcome["reply"].status_code == 200, outcome["reply"].get_json()
    if ends and wait:  # the change came first: the old password proves nothing
        assert reply.status_code == 401, reply.get_json()
        return
    assert reply.status_code == 403, reply.get_json()
    verified = mfa.verify(reply.get_json()["mfa_token"], enrolled.code())
    assert verified.status_code == (401 if ends else 200), verified.get_json()
