"""Passkey login: request options (named or discoverable) and assertion verification."""

import hmac
from dataclasses import dataclass

from sqlalchemy import select, update
from webauthn import generate_authentication_options, verify_authentication_response
from webauthn.helpers import parse_authentication_credential_json
from webauthn.helpers.structs import UserVerificationRequirement

from .. import accounts, audit, email_flows, sessions
from ..errors import AccountDisabled, EmailUnverified, InvalidCredentials
from ..extensions import db
from ..models import Passkey, User, utcnow
from .challenges import (
    CEREMONY_TIMEOUT_MS,
    LOGIN,
    MALFORMED,
    NAMED_LOGIN,
    as_json,
    new_challenge,
    reason,
    settings,
    signed_challenge,
    spend,
)

# RFC 8176: proof of possession of a (hardware-held) key, and multiple factors
# (the authenticator verified the user by PIN or biometric; which one it does not say).
PASSKEY_AMR = ("hwk", "mfa")


class PasskeyLoginFailed(InvalidCredentials):
    """Any failed passkey login: one message, whatever went wrong."""

    detail = "Passkey login failed"


@dataclass(frozen=True)
class PasskeyLogin:
    user: User
    passkey_id: int
    started: sessions.SessionStarted


def login_options(login=None):
    """Request options; commits. `allowCredentials` is always empty: the
    authenticator offers its discoverable passkeys (registration requires them).

    Named (`login`), the challenge is bound to the account the name finds, or to
    none when it finds none: only that account's passkeys answer it (see
    `login`). The answer is the same for any name, after the same queries, so
    it tells no one who exists or who has passkeys.
    """
    purpose, user_id = LOGIN, None
    if login:
        user = accounts.find_by_login(login)
        purpose, user_id = NAMED_LOGIN, (user.id if user is not None else None)
    rp_id, _origins = settings()
    options = generate_authentication_options(
        rp_id=rp_id,
        challenge=new_challenge(purpose, user_id),
        timeout=CEREMONY_TIMEOUT_MS,
        allow_credentials=[],
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    db.session.commit()
    return as_json(options)


def _refuse(why, user_id=None, error=PasskeyLoginFailed):
    """Audit the failure and raise `error` (a challenge spent is committed already)."""
    db.session.rollback()
    audit.failure("login.failure", user_id=user_id, method="passkey", reason=why)
    raise error()


def login(credential, client):
    """Verify an assertion and open a session with `PASSKEY_AMR`; commits."""
    try:
        parsed = parse_authentication_credential_json(credential)
        challenge = signed_challenge(parsed)
    except MALFORMED:
        _refuse("malformed")
    spent = spend(challenge, (LOGIN, NAMED_LOGIN))
    if spent is None:
        _refuse("challenge")
    passkey = db.session.execute(
        select(Passkey).where(Passkey.credential_id == parsed.raw_id)
    ).scalar_one_or_none()
    if passkey is None:
        _refuse("unknown_credential")
    # A named challenge is bound to its account (a name that found none: to no one),
    # so any other passkey gets this one refusal, whoever the name was.
    if spent.purpose == NAMED_LOGIN and spent.user_id != passkey.user_id:
        _refuse("other_users_challenge", passkey.user_id)
    handle = parsed.response.user_handle
    if handle is not None and not hmac.compare_digest(handle, passkey.user_handle):
        _refuse("user_handle", passkey.user_id)
    rp_id, origins = settings()
    try:
        verified = verify_authentication_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origins,
            credential_public_key=passkey.public_key,
            credential_current_sign_count=passkey.sign_count,
            require_user_verification=True,
        )
    except MALFORMED as error:
        _refuse(reason(error), passkey.user_id)
    user = db.session.get(User, passkey.user_id)
    if user is None:  # deleted meanwhile (its passkeys go with it)
        _refuse("unknown_credential")
    if not user.is_active:
        _refuse("account_disabled", user.id, AccountDisabled)
    if email_flows.verification_required() and not user.email_verified:
        _refuse("email_unverified", user.id, EmailUnverified)
    if not _advance_counter(passkey.id, verified):
        _refuse("sign_count", user.id)
    started = sessions.start(user, client, amr=PASSKEY_AMR)
    db.session.commit()
    audit.record("login.success", user_id=user.id, session_id=started.session_id, method="passkey")
    return PasskeyLogin(user=user, passkey_id=passkey.id, started=started)


def _advance_counter(passkey_id, verified):
    """Move the stored counter to the assertion's, only forward; False when it would not.

    A counter of 0 means the authenticator keeps none (many synced passkeys):
    it may stay 0 while the stored one is 0. Otherwise it must grow, checked in
    the same UPDATE that writes it, so concurrent assertions cannot share a count.
    """
    count = verified.new_sign_count
    grows = Passkey.sign_count == 0 if count == 0 else Passkey.sign_count < count
    return (
        db.session.execute(
            update(Passkey)
            .where(Passkey.id == passkey_id, grows)
            .values(
                sign_count=count, last_used_at=utcnow(), backed_up=verified.credential_backed_up
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        == 1
    )
