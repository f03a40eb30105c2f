"""Operator commands: `flask seed-admin`, `flask prune-tokens`."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from authsvc.extensions import db
from authsvc.models import LoginSession, MfaChallenge, RefreshToken, User, utcnow
from tests.helpers import PASSWORD, unverified_claims

SEED = ["seed-admin", "--email", "Boss@Example.com", "--username", "boss"]


def admins(app):
    with app.app_context():
        return db.session.execute(select(User.username).where(User.is_admin)).scalars().all()


def test_seed_admin_creates_admin_who_can_log_in(app, runner, auth):
    result = runner.invoke(args=[*SEED, "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    assert "Created admin boss" in result.output
    assert admins(app) == ["boss"]
    auth.login("boss@example.com")


def test_seed_admin_prompts_twice_when_no_password(app, runner):
    result = runner.invoke(args=SEED, input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "Password:" in result.output and "Repeat for confirmation:" in result.output
    assert admins(app) == ["boss"]


def test_seed_admin_mismatched_prompt_is_asked_again(app, runner):
    result = runner.invoke(args=SEED, input=f"{PASSWORD}\nother\n{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert admins(app) == ["boss"]


def test_seed_admin_is_idempotent(app, runner):
    first = runner.invoke(args=[*SEED, "--password", PASSWORD])
    second = runner.invoke(args=[*SEED, "--password", "another-long-passphrase"])
    assert first.exit_code == second.exit_code == 0
    with app.app_context():
        users = db.session.execute(select(User)).scalars().all()
        assert len(users) == 1
        stamp = users[0].updated_at
    runner.invoke(args=[*SEED, "--password", PASSWORD])
    with app.app_context():
        assert db.session.execute(select(User)).scalar_one().updated_at == stamp


def test_seed_admin_promotes_existing_user(app, runner, make_user):
    make_user("boss", email="boss@example.com")
    result = runner.invoke(args=SEED)  # no prompt: the user exists already
    assert result.exit_code == 0, result.output
    assert admins(app) == ["boss"]


def test_seed_admin_says_it_leaves_an_existing_users_password_alone(app, runner, make_user):
    """Running it again changes nothing, the password included; it says so."""
    make_user("boss", email="boss@example.com")
    result = runner.invoke(args=[*SEED, "--password", "another-long-passphrase"])
    assert result.exit_code == 0, result.output
    assert "password unchanged" in result.output.lower()
    assert admins(app) == ["boss"]
    client = app.test_client()
    login = "/api/v1/auth/login"
    moved = client.post(login, json={"username": "boss", "password": "another-long-passphrase"})
    assert moved.status_code == 401
    assert client.post(login, json={"username": "boss", "password": PASSWORD}).status_code == 200
    # Without --password there is nothing to leave alone, and nothing is said of it.
    quiet = runner.invoke(args=SEED)
    assert quiet.exit_code == 0 and "password unchanged" not in quiet.output.lower()


def test_seed_admin_help_says_what_password_does(runner):
    help_text = " ".join(runner.invoke(args=["seed-admin", "--help"]).output.split())
    assert "existing user's password is left unchanged" in help_text


def test_seed_admin_refuses_weak_password(app, runner):
    result = runner.invoke(args=[*SEED, "--password", "password"])
    assert result.exit_code != 0
    assert "Password" in result.output
    assert admins(app) == []


def test_prune_tokens_deletes_only_expired_rows(app, runner, auth, user):
    live = auth.login("ada")
    auth.login("ada")
    with app.app_context():
        expired = db.session.execute(select(LoginSession)).scalars().first()
        expired.expires_at = utcnow() - timedelta(seconds=1)
        for token in expired.refresh_tokens:
            token.expires_at = expired.expires_at
        db.session.commit()
    result = runner.invoke(args=["prune-tokens"])
    assert result.exit_code == 0, result.output
    assert "Pruned 1 expired sessions and 1 expired refresh tokens" in result.output
    with app.app_context():
        assert db.session.execute(select(func.count(LoginSession.id))).scalar_one() == 1
        assert db.session.execute(select(func.count(RefreshToken.jti))).scalar_one() == 1
    assert live["access_token"]


def session_rows(app):
    with app.app_context():
        sessions = db.session.execute(select(LoginSession.id)).scalars().all()
        links = db.session.execute(select(RefreshToken.jti)).scalars().all()
        return set(sessions), set(links)


def test_prune_never_revives_a_revoked_token(app, runner, client, auth, user):
    """Revoked and rotated rows that have not expired are what refuses their tokens
    (and tells reuse from a forged token): pruning must keep every one of them."""
    logged_out = auth.login("ada")
    client.post("/api/v1/auth/logout", json={"refresh_token": logged_out["refresh_token"]})
    rotated = auth.login("ada")
    response = client.post("/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert response.status_code == 200
    expired = auth.login("ada")  # positive control: this one prune must delete
    with app.app_context():
        sid = unverified_claims(expired["access_token"])["sid"]
        session = db.session.get(LoginSession, sid)
        session.expires_at = utcnow() - timedelta(seconds=1)
        session.revoked_at = session.expires_at
        for token in session.refresh_tokens:
            token.expires_at = session.expires_at
        db.session.commit()
    before_sessions, before_links = session_rows(app)

    result = runner.invoke(args=["prune-tokens"])
    assert result.exit_code == 0, result.output
    assert "Pruned 1 expired sessions and 1 expired refresh tokens" in result.output
    sessions, links = session_rows(app)
    assert sessions == before_sessions - {sid}
    assert links == {jti for jti in before_links} - {
        unverified_claims(expired["refresh_token"])["jti"]
    }

    me = "/api/v1/users/me"
    assert client.get(me, headers=auth.bearer(logged_out["access_token"])).status_code == 401
    refresh = client.post(
        "/api/v1/auth/refresh", json={"refresh_token": logged_out["refresh_token"]}
    )
    assert refresh.status_code == 401
    # The rotated token is still known as rotated: presenting it is reuse, which
    # ends its session (a pruned row would only say "revoked" and leave it live).
    assert (
        client.get(me, headers=auth.bearer(response.get_json()["access_token"])).status_code == 200
    )
    reuse = client.post("/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert "reuse" in reuse.get_json()["detail"].lower()
    assert (
        client.get(me, headers=auth.bearer(response.get_json()["access_token"])).status_code == 401
    )


@pytest.mark.parametrize(
    ("email", "username"),
    [("not-an-email", "boss"), ("boss@example.com", "bad name@x!"), ("b@example.com", "b" * 40)],
)
def test_seed_admin_validates_email_and_username(app, runner, email, username):
    result = runner.invoke(
        args=["seed-admin", "--email", email, "--username", username, "--password", PASSWORD]
    )
    assert result.exit_code != 0
    assert admins(app) == []


def test_prune_tokens_deletes_spent_and_expired_mfa_logins(app, runner, mfa, user):
    enrolled = mfa.enable(user)
    spent = mfa.mfa_token(user)
    assert mfa.verify(spent, enrolled.code()).status_code == 200
    expired = mfa.mfa_token(user)
    mfa.clock.shift(timedelta(minutes=5))
    live = mfa.mfa_token(user)
    result = runner.invoke(args=["prune-tokens"])
    assert "Pruned 2 expired or spent MFA logins" in result.output
    with app.app_context():
        assert db.session.execute(select(func.count(MfaChallenge.token_hash))).scalar_one() == 1
    assert mfa.verify(expired, enrolled.code(1)).status_code == 401
    assert mfa.verify(live, enrolled.code(1)).status_code == 200
