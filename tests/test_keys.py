"""Signing keys: generation, kid, encryption at rest, rotation, revocation, re-encryption."""

import threading

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from sqlalchemy import delete, select

from authsvc import crypto, keys
from authsvc.extensions import db
from authsvc.models import SigningKey

OLD_SECRET = "old-secret-key-0123456789-abcdefghijklmnopq"
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi"}


@pytest.fixture
def app_settings():
    return {"JWT_ALGORITHM": "ES256"}


@pytest.fixture
def ctx(app):
    """A database without keys, as a fresh install has before its app first starts."""
    with app.app_context():
        db.session.execute(delete(SigningKey))
        db.session.commit()
        yield app


def states():
    rows = db.session.execute(select(SigningKey.kid, SigningKey.state)).all()
    db.session.rollback()
    return {kid: state for kid, state in rows}


def kids_in(state):
    return [kid for kid, s in states().items() if s == state]


def test_thumbprint_matches_rfc_7638_example():
    jwk = {
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6t"
        "Soc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGj"
        "QR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bF"
        "TWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert keys.thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.mark.parametrize(
    "alg, key_type, kty",
    [
        ("ES256", ec.EllipticCurvePrivateKey, "EC"),
        ("RS256", rsa.RSAPrivateKey, "RSA"),
        ("EdDSA", ed25519.Ed25519PrivateKey, "OKP"),
    ],
)
def test_new_key_publishes_public_members_only_and_seals_the_private_part(ctx, alg, key_type, kty):
    key = keys.new_key(alg, "next", keys.utcnow())
    assert key.public_jwk["kty"] == kty
    assert key.public_jwk["alg"] == alg and key.public_jwk["use"] == "sig"
    assert key.kid == key.public_jwk["kid"] == keys.thumbprint(key.public_jwk)
    assert not PRIVATE_MEMBERS & set(key.public_jwk)
    assert "PRIVATE KEY" not in key.private_key and key.private_key.startswith("v1.")
    private = keys.load_private_key(key)
    assert isinstance(private, key_type)
    assert keys.public_jwk(private, alg) == key.public_jwk
    if alg == "RS256":
        assert private.key_size >= 2048
    if alg == "ES256":
        assert private.curve.name == "secp256r1"


def test_unknown_algorithm_is_refused(ctx):
    ctx.config["JWT_ALGORITHM"] = "HS256"
    with pytest.raises(ValueError, match="JWT_ALGORITHM"):
        keys.ensure_keys()
    assert states() == {}


def test_first_keys_are_made_once(ctx):
    assert keys.ensure_keys() is True
    assert sorted(states().values()) == ["current", "next"]
    assert keys.ensure_keys() is False
    assert len(states()) == 2


def test_workers_racing_to_make_the_first_key_make_one_current_and_one_next(ctx):
    barrier = threading.Barrier(6)
    errors = []

    def worker():
        with ctx.app_context():
            barrier.wait()
            try:
                keys.ensure_keys()
            except Exception as error:  # noqa: BLE001 - the test reports any
                errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(states().values()) == ["current", "next"]
    # SQLite may refuse a racer with "database is locked" after its timeout;
    # what matters is that no racer made a second current or next key.
    assert all("locked" in str(error) for error in errors), errors


def test_rotate_moves_every_key_one_step(ctx):
    keys.ensure_keys()
    [current], [upcoming] = kids_in("current"), kids_in("next")
    rotation = keys.rotate()
    assert (rotation.current, rotation.previous) == (upcoming, current)
    assert states() == {current: "previous", upcoming: "current", rotation.next: "next"}
    previous = db.session.get(SigningKey, current)
    assert previous.expires_at - previous.retired_at == keys.previous_lifetime()
    assert keys.previous_lifetime() > ctx.config["JWT_ACCESS_TOKEN_EXPIRES"]


def test_rotations_racing_leave_one_current_and_one_next(ctx):
    keys.ensure_keys()
    barrier = threading.Barrier(4)
    outcomes = []

    def worker():
        with ctx.app_context():
            barrier.wait()
            try:
                outcomes.append(keys.rotate())
            except keys.RotationConflict:
                outcomes.append("conflict")
            except Exception as error:  # noqa: BLE001 - SQLite's lock timeout
                outcomes.append(error)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert any(isinstance(outcome, keys.Rotation) for outcome in outcomes)
    values = list(states().values())
    assert values.count("current") == 1 and values.count("next") == 1


def test_revoking_the_current_key_promotes_next_and_publishes_a_new_next(ctx):
    keys.ensure_keys()
    [current], [upcoming] = kids_in("current"), kids_in("next")
    assert keys.revoke(current) == "current"
    after = states()
    assert after[current] == "revoked" and after[upcoming] == "current"
    assert list(after.values()).count("next") == 1


def test_revoking_next_publishes_another(ctx):
    keys.ensure_keys()
    [upcoming] = kids_in("next")
    assert keys.revoke(upcoming) == "next"
    assert states()[upcoming] == "revoked"
    assert len(kids_in("next")) == 1 and kids_in("next") != [upcoming]


@pytest.mark.parametrize("kid", ["x" * 43, "' OR 1=1 --"])
def test_revoking_an_unknown_or_revoked_key_changes_nothing(ctx, kid):
    keys.ensure_keys()
    before = states()
    with pytest.raises(keys.KeyNotFound):
        keys.revoke(kid)
    [current] = kids_in("current")
    keys.revoke(current)
    with pytest.raises(keys.KeyNotFound):  # twice is no second change
        keys.revoke(current)
    assert len(states()) == len(before) + 1


def test_private_keys_reencrypted_under_a_new_secret_key(ctx):
    ctx.config["SECRET_KEY"] = OLD_SECRET
    keys.ensure_keys()
    new_secret = "new-secret-key-0123456789-abcdefghijklmnopq"
    ctx.config.update(SECRET_KEY=new_secret, SECRET_KEY_FALLBACKS=[OLD_SECRET])
    rows = db.session.scalars(select(SigningKey)).all()
    assert all(crypto.needs_reencryption(row.private_key, keys.PURPOSE) for row in rows)
    db.session.rollback()
    assert keys.reencrypt_all() == 2
    assert keys.reencrypt_all() == 0
    ctx.config["SECRET_KEY_FALLBACKS"] = []  # the old secret retired: keys still open
    for row in db.session.scalars(select(SigningKey)):
        assert keys.load_private_key(row) is not None
    db.session.rollback()


def test_reencryption_without_the_old_secret_changes_nothing(ctx):
    ctx.config["SECRET_KEY"] = OLD_SECRET
    keys.ensure_keys()
    sealed = {row.kid: row.private_key for row in db.session.scalars(select(SigningKey))}
    db.session.rollback()
    ctx.config["SECRET_KEY"] = "new-secret-key-0123456789-abcdefghijklmnopq"
    with pytest.raises(crypto.DecryptionError):
        keys.reencrypt_all()
    after = {row.kid: row.private_key for row in db.session.scalars(select(SigningKey))}
    db.session.rollback()
    assert after == sealed
