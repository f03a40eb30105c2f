"""Operator commands: `flask seed-admin`, `flask prune-tokens`."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from authsvc.extensions import db
from authsvc.models import LoginSession, RefreshToken, User, utcnow
from tests.conftest import PASSWORD

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


def test_prune_never_revives_a_revoked_token(app, runner, client, auth, user):
    pair = auth.login("ada")
    client.post("/api/v1/auth/logout", json={"refresh_token": pair["refresh_token"]})
    runner.invoke(args=["prune-tokens"])
    response = client.get("/api/v1/users/me", headers=auth.bearer(pair["access_token"]))
    assert response.status_code == 401


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
