"""Token rules: claims, session lifetime, rotation chain."""

from datetime import timedelta

import jwt as pyjwt
from sqlalchemy import select, update

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
