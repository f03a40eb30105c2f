"""Signing keys: generate, encrypt at rest, rotate, revoke, re-encrypt.

The keys live in the database (`signing_keys`), their private parts sealed by
`crypto` under the "signing-keys" purpose. Each use case runs in a session of
its own and commits once, so it never commits a request's pending work. The
in-memory copy every worker verifies with is `keyring`.
"""

import base64
import hashlib
import json
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from flask import current_app
from jwt.algorithms import get_default_algorithms
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import crypto
from .extensions import db
from .models import SigningKey, utcnow

PURPOSE = "signing-keys"
ALGORITHMS = ("ES256", "RS256", "EdDSA")
RSA_BITS = 2048
# The members of each key type that make its RFC 7638 thumbprint, in order.
THUMBPRINT_MEMBERS = {
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
    "OKP": ("crv", "kty", "x"),
}
# How long a worker may sign with a key after it was rotated away (its keyring
# refreshes at most this often): a `previous` key verifies that much longer.
KEYRING_STALENESS = timedelta(seconds=60)


class KeyNotFound(LookupError):
    """No key has that kid (or it is already revoked)."""


class RotationConflict(RuntimeError):
    """Another rotation or revocation changed the keys meanwhile; try again."""


def generate_private_key(alg):
    """A fresh private key for `alg` (ES256: P-256, RS256: 2048-bit RSA, EdDSA: Ed25519)."""
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"JWT_ALGORITHM must be one of {', '.join(ALGORITHMS)}")


def thumbprint(jwk):
    """RFC 7638: base64url(SHA-256(the required members as compact, sorted JSON))."""
    members = {name: jwk[name] for name in THUMBPRINT_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    digest = hashlib.sha256(canonical).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def public_jwk(private_key, alg):
    """The published JWK of `private_key`: public members, kid, alg, use."""
    jwk = get_default_algorithms()[alg].to_jwk(private_key.public_key(), as_dict=True)
    jwk = {name: jwk[name] for name in THUMBPRINT_MEMBERS[jwk["kty"]]}
    return {**jwk, "kid": thumbprint(jwk), "alg": alg, "use": "sig"}


def load_private_key(row):
    """Decrypt a key row's private part (SECRET_KEY, or else a fallback)."""
    pem = crypto.decrypt(row.private_key, PURPOSE)
    return serialization.load_pem_private_key(pem, password=None)


def new_key(alg, state, now):
    private_key = generate_private_key(alg)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    jwk = public_jwk(private_key, alg)
    return SigningKey(
        kid=jwk["kid"],
        alg=alg,
        state=state,
        private_key=crypto.encrypt(pem, PURPOSE),
        public_jwk=jwk,
        created_at=now,
        activated_at=now if state == "current" else None,
    )


def configured_algorithm():
    alg = current_app.config["JWT_ALGORITHM"]
    if alg not in ALGORITHMS:
        raise ValueError(f"JWT_ALGORITHM must be one of {', '.join(ALGORITHMS)}, not {alg!r}")
    return alg


def previous_lifetime():
    """How long a rotated-away key still verifies: every token it signed dies by then."""
    config = current_app.config
    leeway = timedelta(seconds=config.get("JWT_DECODE_LEEWAY", 0))
    return config["JWT_ACCESS_TOKEN_EXPIRES"] + leeway + KEYRING_STALENESS


def ensure_keys():
    """Make a `current` and a `next` key when there are none (the first start).

    Workers racing here are sorted out by the unique indexes: a loser's insert
    fails, and the winner's keys stand. Returns whether this call made one.
    """
    alg = configured_algorithm()
    made = False
    for state in ("current", "next"):
        with Session(db.engine) as session:
            if session.scalar(select(SigningKey.kid).where(SigningKey.state == state)):
                continue
            session.add(new_key(alg, state, utcnow()))
            try:
                session.commit()
                made = True
            except IntegrityError:
                session.rollback()
    return made


@dataclass(frozen=True)
class Rotation:
    current: str
    previous: str | None
    next: str


def _demote_current(session, now):
    """current -> previous (it verifies until its tokens are all dead); returns its kid."""
    kid = session.scalar(
        select(SigningKey.kid).where(SigningKey.state == "current").with_for_update()
    )
    if kid is not None:
        done = session.execute(
            update(SigningKey)
            .where(SigningKey.kid == kid, SigningKey.state == "current")
            .values(state="previous", retired_at=now, expires_at=now + previous_lifetime())
        )
        if done.rowcount != 1:
            raise RotationConflict("the current key changed meanwhile")
    return kid


def _promote_next(session, alg, now):
    """next -> current; with no `next` key (revoked), a new key signs at once."""
    kid = session.scalar(select(SigningKey.kid).where(SigningKey.state == "next").with_for_update())
    if kid is None:
        key = new_key(alg, "current", now)
        session.add(key)
        session.flush()
        return key.kid
    done = session.execute(
        update(SigningKey)
        .where(SigningKey.kid == kid, SigningKey.state == "next")
        .values(state="current", activated_at=now)
    )
    if done.rowcount != 1:
        raise RotationConflict("the next key changed meanwhile")
    return kid


@contextmanager
def _key_change():
    """A session for one change of the key set, committed once.

    A concurrent rotation or revocation shows up as a unique-index violation
    (two `current` or `next` keys) or an update that matched nothing: either
    way this one changes nothing and raises RotationConflict.
    """
    with Session(db.engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except IntegrityError as error:
            session.rollback()
            raise RotationConflict("another rotation ran at the same time") from error


def rotate():
    """`next` signs from now on, `current` becomes `previous`, a new `next` is published."""
    alg = configured_algorithm()
    now = utcnow()
    with _key_change() as session:
        previous = _demote_current(session, now)
        current = _promote_next(session, alg, now)
        upcoming = new_key(alg, "next", now)
        session.add(upcoming)
    return Rotation(current=current, previous=previous, next=upcoming.kid)


def revoke(kid):
    """Withdraw a key at once: its tokens stop verifying everywhere within a minute.

    Revoking the `current` key promotes `next` (already published, so resource
    servers verify its tokens); revoking `next` publishes a new one.
    """
    alg = configured_algorithm()
    now = utcnow()
    with _key_change() as session:
        state = session.scalar(
            select(SigningKey.state)
            .where(SigningKey.kid == kid, SigningKey.state != "revoked")
            .with_for_update()
        )
        if state is None:
            raise KeyNotFound(kid)
        session.execute(
            update(SigningKey)
            .where(SigningKey.kid == kid)
            .values(state="revoked", revoked_at=now, expires_at=None)
        )
        if state == "current":
            _promote_next(session, alg, now)
        if state in ("current", "next"):
            session.add(new_key(alg, "next", now))
    return state


def list_keys():
    """Every key, newest first."""
    with Session(db.engine) as session:
        rows = session.scalars(select(SigningKey).order_by(SigningKey.created_at.desc()))
        return list(rows)


def reencrypt_all():
    """Seal every private key under the current SECRET_KEY; returns how many changed.

    Raises crypto.DecryptionError (naming no secret) if a key opens with none of
    SECRET_KEY and SECRET_KEY_FALLBACKS: nothing is changed then.
    """
    changed = 0
    with Session(db.engine) as session:
        for row in session.scalars(select(SigningKey).with_for_update()):
            sealed = crypto.reencrypt(row.private_key, PURPOSE)
            if sealed != row.private_key:
                row.private_key = sealed
                changed += 1
        session.commit()
    return changed
