"""The audit trail: one `authsvc.audit` record per security event, never a secret."""

import logging

import pytest
from flask import g

from authsvc import audit
from authsvc.extensions import db
from authsvc.models import User
from tests.helpers import (
    LOGIN,
    LOGOUT,
    LOGOUT_ALL,
    ME,
    PASSWORD,
    REFRESH,
    REGISTER,
    SESSIONS,
    USERS,
    claims_of,
)

NEW_PASSWORD = "a-brand-new-passphrase-2"


@pytest.fixture
def trail(caplog):
    """The audit records logged so far, as a list of LogRecords."""
    caplog.set_level(logging.INFO, logger="authsvc.audit")

    def records(event=None):
        found = [r for r in caplog.records if r.name == "authsvc.audit"]
        return [r for r in found if event is None or r.event == event]

    return records


def only(records):
    assert len(records) == 1, [r.getMessage() for r in records]
    return records[0]


def sid_of(client, access_token):
    sessions = client.get(SESSIONS, headers={"Authorization": f"Bearer {access_token}"})
    return next(s["id"] for s in sessions.get_json() if s["current"])


def test_register_records_user_session_ip_and_request_id(client, trail):
    body = {"email": "grace@example.com", "username": "grace", "password": PASSWORD}
    response = client.post(REGISTER, json=body, headers={"X-Request-ID": "req-123"})
    pair = response.get_json()
    record = only(trail("user.register"))
    assert record.levelno == logging.INFO
    assert record.user_id == 1
    assert record.session_id == sid_of(client, pair["access_token"])
    assert record.ip == "127.0.0.1"
    assert record.request_id == "req-123"
    assert record.actor_id is None


def test_request_id_set_by_middleware_wins_over_the_header(app, client, user, trail):
    @app.before_request
    def set_request_id():
        g.request_id = "from-middleware"

    client.post(
        LOGIN, json={"username": "ada", "password": PASSWORD}, headers={"X-Request-ID": "x"}
    )
    assert only(trail("login.success")).request_id == "from-middleware"


def test_login_success_records_the_new_session(client, user, trail):
    pair = client.post(LOGIN, json={"username": "ADA", "password": PASSWORD}).get_json()
    record = only(trail("login.success"))
    assert (record.user_id, record.session_id) == (user["id"], sid_of(client, pair["access_token"]))


@pytest.mark.parametrize(
    ("login", "password", "reason", "known"),
    [
        ("nobody", "wrong-password-1", "unknown_user", False),
        ("ada", "wrong-password-1", "wrong_password", True),
        ("sleepy", PASSWORD, "account_disabled", True),
    ],
)
def test_login_failure_records_the_login_name_and_reason(
    client, user, make_user, trail, login, password, reason, known
):
    sleepy = make_user("sleepy", is_active=False)
    client.post(LOGIN, json={"username": login, "password": password})
    record = only(trail("login.failure"))
    assert record.levelno == logging.WARNING
    assert record.login == login and record.reason == reason
    assert record.user_id == ({"ada": user["id"], "sleepy": sleepy["id"]}[login] if known else None)
    assert record.session_id is None
    assert password not in record.getMessage()


def test_refresh_and_reuse_are_recorded(client, auth, user, trail):
    first = auth.login("ada")
    sid = sid_of(client, first["access_token"])
    client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert (only(trail("token.refresh")).user_id, trail("token.refresh")[0].session_id) == (
        user["id"],
        sid,
    )
    client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    reuse = only(trail("token.reuse_detected"))
    assert reuse.levelno == logging.WARNING
    assert (reuse.user_id, reuse.session_id) == (user["id"], sid)


def test_logout_logout_all_and_session_revoke_are_recorded(client, auth, user, trail):
    one, two, three = (auth.login("ada") for _ in range(3))
    sid_one, sid_two = sid_of(client, one["access_token"]), sid_of(client, two["access_token"])
    client.post(LOGOUT, json={"refresh_token": one["refresh_token"]})
    logout = only(trail("logout"))
    assert (logout.user_id, logout.session_id, logout.sessions_revoked) == (user["id"], sid_one, 1)

    headers = auth.bearer(three["access_token"])
    client.delete(f"{SESSIONS}/{sid_two}", headers=headers)
    revoke = only(trail("session.revoke"))
    assert (revoke.user_id, revoke.session_id, revoke.actor_id) == (user["id"], sid_two, user["id"])

    client.post(LOGOUT_ALL, headers=headers)
    everything = only(trail("logout_all"))
    assert (everything.user_id, everything.sessions_revoked) == (user["id"], 1)
    assert everything.session_id == claims_of(three["access_token"])["sid"]


def test_password_change_is_recorded(client, auth, user, trail):
    headers = auth.headers_for(user)
    body = {"password": NEW_PASSWORD, "current_password": PASSWORD, "full_name": "Ada"}
    assert client.patch(ME, json=body, headers=headers).status_code == 200
    profile = only(trail("profile.update"))
    assert profile.fields == ["full_name", "password"] and profile.user_id == user["id"]
    change = only(trail("password.change"))
    assert (change.user_id, change.actor_id, change.sessions_revoked) == (user["id"], user["id"], 0)


def test_admin_changes_to_users_are_recorded_with_the_actor(client, auth, admin, user, trail):
    headers = auth.headers_for(admin)
    auth.login("ada")
    created = client.post(
        USERS,
        json={
            "email": "bob@example.com",
            "username": "bob",
            "password": PASSWORD,
            "is_admin": True,
        },
        headers=headers,
    ).get_json()
    client.patch(f"{USERS}/{user['id']}", json={"is_active": False}, headers=headers)
    client.put(f"{USERS}/{created['id']}", json={"password": NEW_PASSWORD}, headers=headers)
    client.delete(f"{USERS}/{created['id']}/sessions", headers=headers)
    client.delete(f"{USERS}/{created['id']}", headers=headers)

    events = [(r.event, r.user_id) for r in trail() if r.event.startswith(("admin.", "password."))]
    assert events == [
        ("admin.user.create", created["id"]),
        ("admin.user.update", user["id"]),
        ("admin.user.update", created["id"]),
        ("password.change", created["id"]),
        ("admin.user.revoke_sessions", created["id"]),
        ("admin.user.delete", created["id"]),
    ]
    for record in trail():
        if record.event.startswith("admin.") or record.event == "password.change":
            assert record.actor_id == admin["id"] and record.ip == "127.0.0.1"
    create = trail("admin.user.create")[-1]
    assert (create.is_admin, create.is_active) == (True, True)
    deactivate = trail("admin.user.update")[0]
    assert deactivate.fields == ["is_active"] and deactivate.is_active is False
    assert deactivate.sessions_revoked == 1


def test_seed_admin_from_the_cli_is_recorded_without_request_fields(runner, trail):
    result = runner.invoke(
        args=[
            "seed-admin",
            "--email",
            "root@example.com",
            "--username",
            "root",
            "--password",
            PASSWORD,
        ]
    )
    assert result.exit_code == 0, result.output
    record = only(trail("admin.seed"))
    assert record.new_account is True and record.user_id == 1
    assert (record.ip, record.request_id, record.actor_id) == (None, None, None)


def test_no_record_ever_carries_a_password_hash_or_token(app, client, auth, admin, trail):
    """Run every audited flow, then look for each secret in every record."""
    secrets = {PASSWORD, NEW_PASSWORD, "wrong-password-1"}
    body = {"email": "grace@example.com", "username": "grace", "password": PASSWORD}
    pairs = [client.post(REGISTER, json=body).get_json()]
    client.post(LOGIN, json={"username": "grace", "password": "wrong-password-1"})
    pairs.append(auth.login("grace"))
    pairs.append(client.post(REFRESH, json={"refresh_token": pairs[1]["refresh_token"]}).get_json())
    client.post(REFRESH, json={"refresh_token": pairs[1]["refresh_token"]})  # reuse
    pairs.append(auth.login("grace"))
    headers = auth.bearer(pairs[-1]["access_token"])
    client.patch(ME, json={"password": NEW_PASSWORD, "current_password": PASSWORD}, headers=headers)
    client.post(LOGOUT, json={"refresh_token": pairs[-1]["refresh_token"]})
    pairs.append(auth.login(admin["username"]))
    admin_headers = auth.bearer(pairs[-1]["access_token"])
    grace_id = claims_of(pairs[0]["access_token"])["sub"]
    client.put(f"{USERS}/{grace_id}", json={"password": PASSWORD + "x"}, headers=admin_headers)
    secrets.add(PASSWORD + "x")
    client.post(LOGOUT_ALL, headers=admin_headers)
    with app.app_context():
        secrets.update(db.session.execute(db.select(User.password_hash)).scalars())
    secrets.update(token for pair in pairs for token in pair.values() if isinstance(token, str))
    secrets.discard("bearer")

    records = trail()
    assert {r.event for r in records} >= {
        "user.register",
        "login.failure",
        "login.success",
        "token.refresh",
        "token.reuse_detected",
        "profile.update",
        "password.change",
        "logout",
        "admin.user.update",
        "logout_all",
    }
    for record in records:
        text = repr(vars(record)) + record.getMessage()
        for secret in secrets:
            assert secret not in text, (record.event, secret[:12])


@pytest.mark.parametrize("name", sorted(audit.SECRET_FIELDS))
def test_record_refuses_secret_field_names(app, name):
    with app.test_request_context(), pytest.raises(ValueError, match=name):
        audit.record("oops", **{name: "x"})


def updated_at(app, user_id):
    with app.app_context():
        return db.session.get(User, user_id).updated_at


@pytest.mark.parametrize(
    "body",
    [
        None,
        {},
        {"full_name": "Ada Lovelace"},
        {"username": "ada", "email": "ADA@example.com", "full_name": "Ada Lovelace"},
    ],
    ids=["no-body", "empty", "same-full-name", "all-the-same"],
)
def test_a_no_op_profile_update_is_no_change(app, client, auth, user, trail, body):
    headers = auth.headers_for(user)
    stamp = updated_at(app, user["id"])
    response = (
        client.patch(ME, json=body, headers=headers)
        if body is not None
        else (client.patch(ME, headers=headers))
    )
    assert response.status_code == 200 and response.get_json()["updated_at"] == stamp.isoformat()
    assert updated_at(app, user["id"]) == stamp
    assert trail("profile.update") == []
    # Positive control: a real change stamps the row and is recorded, with that field only.
    body = {"full_name": "Countess", "username": "ada"}
    assert client.patch(ME, json=body, headers=headers).status_code == 200
    assert updated_at(app, user["id"]) > stamp
    assert only(trail("profile.update")).fields == ["full_name"]


@pytest.mark.parametrize(
    "body",
    [{}, {"is_admin": False, "is_active": True}, {"full_name": "Ada Lovelace", "username": "ada"}],
    ids=["empty", "same-flags", "same-names"],
)
def test_a_no_op_admin_update_is_no_change(app, client, auth, admin, user, trail, body):
    headers = auth.headers_for(admin)
    stamp = updated_at(app, user["id"])
    response = client.patch(f"{USERS}/{user['id']}", json=body, headers=headers)
    assert response.status_code == 200
    assert updated_at(app, user["id"]) == stamp
    assert trail("admin.user.update") == []
    body = {"is_admin": True, "full_name": "Ada Lovelace"}
    assert client.patch(f"{USERS}/{user['id']}", json=body, headers=headers).status_code == 200
    assert updated_at(app, user["id"]) > stamp
    assert only(trail("admin.user.update")).fields == ["is_admin"]


def test_mfa_events_are_recorded_without_codes_or_secrets(app, mfa, user, trail):
    enrolled = mfa.enable(user)
    token = mfa.mfa_token(user)
    wrong = enrolled.code(7)
    mfa.verify(token, wrong)
    right = enrolled.code()
    mfa.verify(token, right)
    mfa.login_with(enrolled, right)  # replayed
    mfa.login_with(enrolled, enrolled.recovery_codes[0])
    assert only(trail("mfa.enabled")).sessions_revoked == 0
    assert len(trail("login.mfa_required")) == 3
    failures = [(r.reason, r.levelno) for r in trail("mfa.verify.failure")]
    assert failures == [("wrong_code", logging.WARNING), ("replayed", logging.WARNING)]
    methods = [r.method for r in trail("mfa.verify.success")]
    assert methods == ["totp", "recovery_code"]
    assert all(r.session_id for r in trail("mfa.verify.success"))
    for lockout in range(10):
        if lockout % 5 == 0:
            token = mfa.mfa_token(user)
        mfa.verify(token, wrong)
    assert only(trail("mfa.totp.locked")).threshold == 10
    secrets = {enrolled.secret, wrong, right, token, *enrolled.recovery_codes}
    for record in trail():
        text = repr(vars(record)) + record.getMessage()
        for secret in secrets:
            assert secret not in text, (record.event, secret[:4])
