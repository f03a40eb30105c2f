"""`flask keys ...` and `flask clients ...` as an operator runs them."""

import re

import pytest
from sqlalchemy import update

from authsvc import clients, crypto, keys
from authsvc.extensions import db
from authsvc.models import SigningKey, TotpFactor
from authsvc.oauth_cli import clients_cli, keys_cli
from tests.helpers import STEP

KID = re.compile(r"[A-Za-z0-9_-]{43}")


@pytest.fixture
def app_settings():
    return {"JWT_ALGORITHM": "ES256"}


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def key_states(app):
    with app.app_context():
        return {key.kid: key.state for key in keys.list_keys()}


def test_keys_list_makes_and_shows_the_first_keys(app, runner):
    result = runner.invoke(keys_cli, ["list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["kid", "alg", "state", "created", "verifies", "until"]
    assert sorted(line.split()[2] for line in lines[1:]) == ["current", "next"]
    assert all(KID.fullmatch(line.split()[0]) for line in lines[1:])


def test_keys_rotate_prints_the_new_states(app, runner):
    runner.invoke(keys_cli, ["list"])
    before = key_states(app)
    result = runner.invoke(keys_cli, ["rotate"])
    assert result.exit_code == 0, result.output
    printed = dict(line.split(":") for line in result.output.replace(" ", "").splitlines())
    after = key_states(app)
    assert after[printed["current"]] == "current" and before[printed["current"]] == "next"
    assert after[printed["previous"]] == "previous" and after[printed["next"]] == "next"
    listing = runner.invoke(keys_cli, ["list"]).output
    assert "previous" in listing


def test_keys_revoke(app, runner):
    runner.invoke(keys_cli, ["list"])
    [current] = [kid for kid, state in key_states(app).items() if state == "current"]
    result = runner.invoke(keys_cli, ["revoke", current])
    assert result.exit_code == 0, result.output
    assert key_states(app)[current] == "revoked"
    again = runner.invoke(keys_cli, ["revoke", current])
    assert again.exit_code == 1 and "no live key" in again.output


def test_keys_revoke_takes_a_kid_that_starts_with_a_dash(app, runner):
    # A thumbprint kid starts with "-" one time in 64; the operator types it as listed.
    runner.invoke(keys_cli, ["list"])
    [current] = [kid for kid, state in key_states(app).items() if state == "current"]
    dashed = "-" + current[1:]
    with app.app_context():
        db.session.execute(update(SigningKey).where(SigningKey.kid == current).values(kid=dashed))
        db.session.commit()
    unknown = runner.invoke(keys_cli, ["revoke", "-" + "x" * 42])
    assert unknown.exit_code == 1 and "no live key" in unknown.output, unknown.output
    result = runner.invoke(keys_cli, ["revoke", dashed])
    assert result.exit_code == 0, result.output
    assert key_states(app)[dashed] == "revoked"


@pytest.mark.parametrize("kid", ["short", "' OR 1=1 --" + "x" * 32, "y" * 43])
def test_keys_revoke_refuses_what_is_no_live_kid(app, runner, kid):
    runner.invoke(keys_cli, ["list"])
    before = key_states(app)
    result = runner.invoke(keys_cli, ["revoke", kid])
    assert result.exit_code == 1
    assert key_states(app) == before


def test_keys_reencrypt(app, runner):
    old = app.config["SECRET_KEY"]
    runner.invoke(keys_cli, ["list"])
    app.config.update(SECRET_KEY="another-secret-key-0123456789-abcdefghijk")
    refused = runner.invoke(keys_cli, ["reencrypt"])
    assert refused.exit_code == 1 and "SECRET_KEY_FALLBACKS" in refused.output
    app.config.update(SECRET_KEY_FALLBACKS=[old])
    result = runner.invoke(keys_cli, ["reencrypt"])
    assert result.exit_code == 0 and "Re-encrypted 2 signing keys" in result.output
    assert "Re-encrypted 0" in runner.invoke(keys_cli, ["reencrypt"]).output


def test_clients_create_list_delete(app, runner):
    created = runner.invoke(clients_cli, ["create", "orders service"])
    assert created.exit_code == 0, created.output
    values = dict(line.split(": ", 1) for line in created.output.splitlines())
    client_id, secret = values["client_id"], values["client_secret"]
    with app.app_context():
        assert clients.authenticate(client_id, secret) == client_id
    listing = runner.invoke(clients_cli, ["list"]).output
    assert client_id in listing and "orders service" in listing and secret not in listing
    deleted = runner.invoke(clients_cli, ["delete", client_id])
    assert deleted.exit_code == 0
    with app.app_context():
        assert clients.authenticate(client_id, secret) is None
    assert runner.invoke(clients_cli, ["delete", client_id]).exit_code == 1


def test_clients_create_refuses_a_bad_name(runner):
    result = runner.invoke(clients_cli, ["create", "x" * 101])
    assert result.exit_code == 1 and "1 to 100" in result.output


NEW_SECRET_KEY = "a-new-secret-key-0123456789-abcdefghijklmnop"


@pytest.mark.parametrize("reencrypt", ["command", "signing-keys-only"])
def test_keys_reencrypt_keeps_totp_working_once_the_old_secret_is_gone(
    app, runner, mfa, user, reencrypt
):
    """SECRET_KEY replaced as docs/TOKENS.md says: new key, old one as a fallback,
    `flask keys reencrypt`, fallback dropped. TOTP logins go on; re-encrypting the
    signing keys alone (the control) leaves TOTP secrets only the old key opens."""
    enrolled = mfa.enable(user)
    old = app.config["SECRET_KEY"]
    app.config.update(SECRET_KEY=NEW_SECRET_KEY, SECRET_KEY_FALLBACKS=[old])
    if reencrypt == "command":
        result = runner.invoke(keys_cli, ["reencrypt"])
        assert result.exit_code == 0, result.output
        assert "Re-encrypted 2 signing keys and 1 TOTP secrets" in result.output
    else:
        with app.app_context():
            assert keys.reencrypt_all() == 2
    app.config.update(SECRET_KEY_FALLBACKS=[])
    reply = mfa.login_with(enrolled)
    if reencrypt == "command":
        assert reply.status_code == 200, reply.get_json()
    else:
        # No configured secret opens the TOTP secret: the service cannot check a code.
        assert reply.status_code == 500


LOST_SECRET_KEY = "a-lost-secret-key-" + "z" * 40


def test_keys_reencrypt_names_the_users_whose_totp_secret_no_key_opens(
    app, runner, mfa, user, make_user
):
    """One TOTP secret sealed under a key no longer configured: nothing changes, and
    the error names its user (and no other, and no secret) so the operator can finish;
    with that key back as a fallback (the control) the same command succeeds."""
    good = mfa.enable(user)
    bad = mfa.enable(make_user("bob"))
    old = app.config["SECRET_KEY"]
    with app.app_context():
        app.config.update(SECRET_KEY=LOST_SECRET_KEY)
        row = db.session.get(TotpFactor, bad.user["id"])
        row.secret_encrypted = crypto.encrypt(bad.secret.encode(), "totp-secret")
        db.session.commit()
    app.config.update(SECRET_KEY=NEW_SECRET_KEY, SECRET_KEY_FALLBACKS=[old])
    result = runner.invoke(keys_cli, ["reencrypt"])
    assert result.exit_code == 1, result.output
    assert f"user {bad.user['id']} (bob)" in result.output
    assert f"user {good.user['id']} " not in result.output and "(ada)" not in result.output
    assert bad.secret not in result.output and good.secret not in result.output
    assert "no TOTP secret changed" in result.output
    with app.app_context():
        assert crypto.needs_reencryption(
            db.session.get(TotpFactor, good.user["id"]).secret_encrypted, "totp-secret"
        )
    assert mfa.login_with(good).status_code == 200  # the fallback still opens ada's

    app.config.update(SECRET_KEY_FALLBACKS=[old, LOST_SECRET_KEY])
    result = runner.invoke(keys_cli, ["reencrypt"])
    assert result.exit_code == 0, result.output
    assert "and 2 TOTP secrets" in result.output
    app.config.update(SECRET_KEY_FALLBACKS=[])
    mfa.clock.shift(STEP)  # past the step of the code ada used above
    assert mfa.login_with(good).status_code == 200
    assert mfa.login_with(bad).status_code == 200
