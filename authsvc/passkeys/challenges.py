"""Passkey challenges: stored server-side, spent once by one conditional UPDATE, dead
after five minutes; and what every ceremony shares (settings, parsing, descriptors)."""

import hashlib
import json
import secrets
from datetime import timedelta

from cryptography.exceptions import UnsupportedAlgorithm
from flask import current_app
from sqlalchemy import delete, or_, update
from webauthn import options_to_json
from webauthn.helpers import parse_client_data_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import AuthenticatorTransport, PublicKeyCredentialDescriptor

from ..extensions import db
from ..models import PasskeyChallenge, utcnow

CHALLENGE_LIFETIME = timedelta(minutes=5)
# How long the browser may wait for the user (a hint; the challenge dies at 5 minutes anyway).
CEREMONY_TIMEOUT_MS = 120_000
# What a challenge is for: a registration, a login by any discoverable passkey, or
# a login as a named account (bound: only that account's passkeys answer it).
REGISTER, LOGIN, NAMED_LOGIN = "register", "login", "login-named"
MAX_CREDENTIAL_ID = 1023  # bytes, WebAuthn Level 3
# Anything py_webauthn, cbor2 or cryptography raise on a malformed or hostile
# credential: it is the client's error (400 or 401), never a 500.
MALFORMED = (
    WebAuthnException,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    OverflowError,
    RecursionError,
    UnsupportedAlgorithm,
)
TRANSPORTS = {transport.value for transport in AuthenticatorTransport}


def digest(challenge):
    return hashlib.sha256(challenge).digest()


def settings():
    config = current_app.config
    return config["WEBAUTHN_RP_ID"], config["WEBAUTHN_ORIGINS"]


def new_challenge(purpose, user_id=None, user_handle=None, name=None):
    """Store a fresh challenge (caller commits) and return its bytes."""
    challenge = secrets.token_bytes(32)
    now = utcnow()
    db.session.add(
        PasskeyChallenge(
            challenge_hash=digest(challenge),
            purpose=purpose,
            user_id=user_id,
            user_handle=user_handle,
            name=name,
            created_at=now,
            expires_at=now + CHALLENGE_LIFETIME,
        )
    )
    return challenge


def spend(challenge, purposes, *conditions):
    """Mark a live challenge for one of `purposes` used, atomically, and commit; return
    its row, or None when it is not live.

    The spend is committed before anything else happens, so no later failure (a
    verification error, a 409 from a concurrent registration, a 500) can roll it
    back and make the challenge live again.
    """
    now = utcnow()
    spent = db.session.execute(
        update(PasskeyChallenge)
        .where(
            PasskeyChallenge.challenge_hash == digest(challenge),
            PasskeyChallenge.purpose.in_(purposes),
            PasskeyChallenge.used_at.is_(None),
            PasskeyChallenge.expires_at > now,
            *conditions,
        )
        .values(used_at=now)
        .returning(
            PasskeyChallenge.purpose,
            PasskeyChallenge.user_id,
            PasskeyChallenge.user_handle,
            PasskeyChallenge.name,
        )
        .execution_options(synchronize_session=False)
    ).first()
    db.session.commit()
    return spent


def descriptor(passkey):
    transports = [AuthenticatorTransport(t) for t in passkey.transports if t in TRANSPORTS]
    return PublicKeyCredentialDescriptor(id=passkey.credential_id, transports=transports or None)


def as_json(options):
    return json.loads(options_to_json(options))


def signed_challenge(parsed):
    return parse_client_data_json(parsed.response.client_data_json).challenge


def reason(error):
    return (str(error) or type(error).__name__)[:200]


def prune_challenges():
    """Delete spent and expired challenges; commits and returns how many."""
    pruned = db.session.execute(
        delete(PasskeyChallenge).where(
            or_(PasskeyChallenge.used_at.is_not(None), PasskeyChallenge.expires_at <= utcnow())
        )
    ).rowcount
    db.session.commit()
    return pruned
