"""Passkey registration (options and verification), the user's list, deletion."""

import secrets

from cryptography.hazmat.primitives.asymmetric import rsa
from flask import current_app
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from webauthn import generate_registration_options, verify_registration_response
from webauthn.helpers import (
    decode_credential_public_key,
    decoded_public_key_to_cryptography,
    parse_registration_credential_json,
)
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    CredentialDeviceType,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from .. import audit
from ..errors import BadRequest, Conflict
from ..extensions import db
from ..models import Passkey, PasskeyChallenge, utcnow
from .challenges import (
    CEREMONY_TIMEOUT_MS,
    MALFORMED,
    MAX_CREDENTIAL_ID,
    REGISTER,
    as_json,
    descriptor,
    new_challenge,
    reason,
    settings,
    signed_challenge,
    spend,
)

MIN_RSA_BITS = 2048


class PasskeyRejected(BadRequest):
    detail = "Passkey registration failed"


def list_passkeys(user_id):
    """A user's passkeys, oldest first."""
    query = select(Passkey).where(Passkey.user_id == user_id).order_by(Passkey.id)
    return db.session.execute(query).scalars().all()


def registration_options(user, name=None):
    """Creation options for `user`, excluding the passkeys they have; commits the challenge."""
    rp_id, _origins = settings()
    existing = list_passkeys(user.id)
    # One user handle per user while they have passkeys; random, never the database id.
    handle = existing[0].user_handle if existing else secrets.token_bytes(32)
    challenge = new_challenge(REGISTER, user.id, handle, name)
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name=current_app.config["WEBAUTHN_RP_NAME"],
        user_id=handle,
        user_name=user.username,
        user_display_name=user.full_name or user.username,
        challenge=challenge,
        timeout=CEREMONY_TIMEOUT_MS,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[descriptor(passkey) for passkey in existing],
    )
    db.session.commit()
    return as_json(options)


def register(user, credential, name=None):
    """Verify a registration response and store the passkey; commits and returns it."""
    try:
        parsed = parse_registration_credential_json(credential)
        challenge = signed_challenge(parsed)
    except MALFORMED:
        raise PasskeyRejected("The credential is malformed") from None
    spent = spend(challenge, (REGISTER,), PasskeyChallenge.user_id == user.id)
    if spent is None:
        db.session.rollback()
        raise PasskeyRejected("Unknown, expired or already used challenge")
    rp_id, origins = settings()
    try:
        verified = verify_registration_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origins,
            require_user_verification=True,
        )
    except MALFORMED as error:
        audit.failure("passkey.register_failure", user_id=user.id, reason=reason(error))
        raise PasskeyRejected(f"Passkey registration failed: {reason(error)}") from None
    problem = _unusable_public_key(verified.credential_public_key)
    if problem:
        audit.failure("passkey.register_failure", user_id=user.id, reason=problem)
        raise PasskeyRejected(f"Passkey registration failed: {problem}")
    if len(verified.credential_id) > MAX_CREDENTIAL_ID:
        raise PasskeyRejected("Passkey registration failed: credential id over 1023 bytes")
    if _registered(verified.credential_id):
        db.session.rollback()
        raise Conflict("This passkey is already registered")
    passkey = Passkey(
        user_id=user.id,
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        user_handle=spent.user_handle,
        transports=sorted({t.value for t in parsed.response.transports or []}),
        backup_eligible=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
        backed_up=verified.credential_backed_up,
        name=(name or spent.name or "Passkey")[:64],
        created_at=utcnow(),
    )
    db.session.add(passkey)
    try:
        db.session.commit()
    except IntegrityError:  # registered by a concurrent request since the check
        db.session.rollback()  # the passkey row only: the challenge's spend is committed
        raise Conflict("This passkey is already registered") from None
    audit.record("passkey.register", user_id=user.id, passkey_id=passkey.id)
    return passkey


def _unusable_public_key(cose_key):
    """Why no assertion could ever verify with this COSE key (None when it can).

    py_webauthn checks the key's algorithm at registration but builds the key
    only at login: a point off its curve, an unknown curve or a short RSA
    modulus would be stored, listed, and never log anyone in.
    """
    try:
        key = decoded_public_key_to_cryptography(decode_credential_public_key(cose_key))
    except MALFORMED as error:
        return f"unusable public key ({reason(error)})"
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        return f"RSA public key under {MIN_RSA_BITS} bits"
    return None


def _registered(credential_id):
    query = select(Passkey.id).where(Passkey.credential_id == credential_id)
    return db.session.execute(query).first() is not None


def delete_passkey(user_id, passkey_id):
    """Delete one of a user's passkeys (nothing else ends); commits, True when it was theirs."""
    deleted = db.session.execute(
        delete(Passkey)
        .where(Passkey.id == passkey_id, Passkey.user_id == user_id)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if deleted:
        audit.record("passkey.delete", user_id=user_id, passkey_id=passkey_id)
    return bool(deleted)
