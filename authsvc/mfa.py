"""MFA use cases: enrol, confirm, disable, regenerate recovery codes, admin reset.

Each commits once. Every code is spent by one conditional UPDATE (`spend_code`):
a TOTP code moves the factor's `last_used_step` forward only when its step is
later than the stored one, a recovery code sets its `used_at` only while it is
NULL, so of two concurrent requests with one code exactly one wins.
"""

import time
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import delete, select, update

from . import audit, crypto, mail, otp, passwords, sessions
from .errors import BadRequest, Conflict, SecondFactorRejected
from .extensions import db
from .models import MfaChallenge, RecoveryCode, TotpFactor, User, utcnow

SECRET_PURPOSE = "totp-secret"


@dataclass(frozen=True)
class Enrolment:
    secret: str
    otpauth_uri: str
    qr_svg: str


@dataclass(frozen=True)
class Status:
    mfa_enabled: bool
    pending: bool
    totp_locked: bool
    recovery_codes_remaining: int


def _factor(user_id):
    return db.session.get(TotpFactor, user_id)


def _secret(factor):
    return crypto.decrypt(factor.secret_encrypted, SECRET_PURPOSE).decode()


class UnreadableSecrets(crypto.DecryptionError):
    """TOTP secrets that open with no configured secret; `users` are their (id, username)."""

    def __init__(self, users):
        super().__init__(f"{len(users)} TOTP secrets open with no configured secret")
        self.users = users


def reencrypt_secrets():
    """Seal every TOTP secret (pending or on) under the current SECRET_KEY; commits and
    returns how many changed.

    Raises `UnreadableSecrets`, naming every user whose secret opens with none of
    SECRET_KEY and SECRET_KEY_FALLBACKS (so the operator can finish in one go):
    nothing is changed then.
    """
    changed = 0
    unreadable = []
    rows = db.session.execute(
        select(TotpFactor, User.username)
        .join(User, User.id == TotpFactor.user_id)
        .order_by(TotpFactor.user_id)
        .with_for_update(of=TotpFactor)
    )
    for factor, username in rows:
        try:
            sealed = crypto.reencrypt(factor.secret_encrypted, SECRET_PURPOSE)
        except crypto.DecryptionError:
            unreadable.append((factor.user_id, username))
            continue
        if sealed != factor.secret_encrypted:
            factor.secret_encrypted = sealed
            changed += 1
    if unreadable:
        db.session.rollback()
        raise UnreadableSecrets(unreadable)
    db.session.commit()
    return changed


def status(user_id):
    """What the user may see of their MFA: on, pending, locked, codes left."""
    factor = _factor(user_id)
    remaining = db.session.execute(
        select(db.func.count(RecoveryCode.id)).where(
            RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
        )
    ).scalar_one()
    enabled = factor is not None and factor.confirmed_at is not None
    return Status(
        mfa_enabled=enabled,
        pending=factor is not None and not enabled,
        totp_locked=enabled and factor.locked_at is not None,
        recovery_codes_remaining=remaining,
    )


def _check_password(user, password):
    if not passwords.verify_password(user.password_hash, password):
        audit.failure("mfa.password_wrong", user_id=user.id)
        raise BadRequest("Current password is incorrect")


def enrol(user, current_password):
    """Start (or restart) a pending TOTP factor; return the secret, URI and QR code."""
    _check_password(user, current_password)
    if user.mfa_enabled:
        raise Conflict("MFA is already on")
    secret = otp.new_secret()
    db.session.execute(delete(TotpFactor).where(TotpFactor.user_id == user.id))
    db.session.add(
        TotpFactor(
            user_id=user.id, secret_encrypted=crypto.encrypt(secret.encode(), SECRET_PURPOSE)
        )
    )
    db.session.commit()
    audit.record("mfa.totp.enrol", user_id=user.id)
    uri = otp.provisioning_uri(secret, user.email, current_app.config["MFA_ISSUER"])
    return Enrolment(secret=secret, otpauth_uri=uri, qr_svg=otp.qr_svg(uri))


def confirm(user, code, current_sid):
    """Turn MFA on with a first valid code; end the other sessions; return recovery codes."""
    factor = _factor(user.id)
    if user.mfa_enabled or factor is None or factor.confirmed_at is not None:
        raise Conflict("No pending TOTP factor to confirm")
    step = otp.matching_step(_secret(factor), code)
    if step is None:
        audit.failure("mfa.totp.confirm_failure", user_id=user.id)
        raise BadRequest("Wrong or already used code")
    now = utcnow()
    # The confirmation's step is stored: the same code cannot log in afterwards.
    confirmed = db.session.execute(
        update(TotpFactor)
        .where(TotpFactor.user_id == user.id, TotpFactor.confirmed_at.is_(None))
        .values(confirmed_at=now, last_used_step=step, failed_attempts=0, locked_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    if confirmed != 1:
        db.session.rollback()
        raise Conflict("No pending TOTP factor to confirm")
    user.mfa_enabled = True
    user.updated_at = now
    codes = _replace_recovery_codes(user.id)
    revoked = sessions.revoke_all_sessions(user.id, keep_sid=current_sid)
    mail.notify(user, "mfa_enabled")
    db.session.commit()
    audit.record("mfa.enabled", user_id=user.id, sessions_revoked=revoked)
    return codes


def _replace_recovery_codes(user_id):
    """Void the user's recovery codes and add a new set; return the new codes."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = otp.new_recovery_codes()
    now = utcnow()
    db.session.add_all(
        RecoveryCode(user_id=user_id, code_hash=otp.recovery_code_digest(code), created_at=now)
        for code in codes
    )
    return codes


def spend_code(user_id, code, *, recovery=True, on_failure=()):
    """Spend a TOTP (or, if allowed, recovery) code in the current transaction.

    Returns the method that matched (`"totp"` or `"recovery_code"`). On a
    refusal it rolls the transaction back, then commits only the accounting:
    a wrong code counts towards the account's TOTP lockout (a replayed or
    locked-out code guesses nothing), and the `on_failure` statements run
    (e.g. the count of an mfa_token). It raises `SecondFactorRejected` with a
    `reason`: `wrong_code`, `replayed` or `locked`.
    """
    if recovery and otp.normalize_recovery_code(code) is not None:
        if _spend_recovery_code(user_id, code):
            return "recovery_code"
        reason = "wrong_code"
    else:
        reason = _spend_totp(user_id, code)
        if reason is None:
            return "totp"
    db.session.rollback()
    for statement in on_failure:
        db.session.execute(statement)
    locked = reason == "wrong_code" and _count_wrong_code(user_id)
    db.session.commit()
    if locked:
        audit.failure(
            "mfa.totp.locked",
            user_id=user_id,
            threshold=current_app.config["MFA_LOCKOUT_THRESHOLD"],
        )
    raise SecondFactorRejected(reason=reason)


def second_factor_passes(user, code):
    """Whether a request that needs the account's second factor (password reset) may go on.

    True without MFA. With MFA on, spends a TOTP or recovery code in the current
    transaction (so the caller's rollback leaves it unspent); a missing or
    refused code is False, and a wrong one counts towards the lockout.
    """
    if not user.mfa_enabled:
        return True
    if not code:
        return False
    try:
        spend_code(user.id, code)
    except SecondFactorRejected:
        return False
    return True


def _spend_totp(user_id, code):
    """Accept a TOTP code once; return None, or why it was refused."""
    factor = db.session.execute(
        select(TotpFactor).where(
            TotpFactor.user_id == user_id, TotpFactor.confirmed_at.is_not(None)
        )
    ).scalar_one_or_none()
    if factor is None:
        return "wrong_code"
    if factor.locked_at is not None:
        return "locked"
    step = otp.matching_step(_secret(factor), code, time.time())
    if step is None:
        return "wrong_code"
    won = db.session.execute(
        update(TotpFactor)
        .where(
            TotpFactor.user_id == user_id,
            TotpFactor.confirmed_at.is_not(None),
            TotpFactor.locked_at.is_(None),
            (TotpFactor.last_used_step.is_(None)) | (TotpFactor.last_used_step < step),
        )
        .values(last_used_step=step, failed_attempts=0)
        .execution_options(synchronize_session=False)
    ).rowcount
    return None if won == 1 else "replayed"


def _spend_recovery_code(user_id, code):
    now = utcnow()
    won = db.session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_hash == otp.recovery_code_digest(code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if won != 1:
        return False
    # A recovery code is how a user gets past a TOTP lockout.
    db.session.execute(
        update(TotpFactor)
        .where(TotpFactor.user_id == user_id)
        .values(failed_attempts=0, locked_at=None)
        .execution_options(synchronize_session=False)
    )
    return True


def _count_wrong_code(user_id):
    """One more consecutive wrong code; return whether TOTP just locked (caller commits)."""
    db.session.execute(
        update(TotpFactor)
        .where(TotpFactor.user_id == user_id, TotpFactor.confirmed_at.is_not(None))
        .values(failed_attempts=TotpFactor.failed_attempts + 1)
        .execution_options(synchronize_session=False)
    )
    locked = db.session.execute(
        update(TotpFactor)
        .where(
            TotpFactor.user_id == user_id,
            TotpFactor.locked_at.is_(None),
            TotpFactor.failed_attempts >= current_app.config["MFA_LOCKOUT_THRESHOLD"],
        )
        .values(locked_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    return locked == 1


def _refused(rejected):
    """A refused code where the caller is already signed in: 400."""
    if rejected.reason == "locked":
        return BadRequest(SecondFactorRejected.LOCKED)
    return BadRequest("Wrong or already used code")


def _remove_factors(user):
    """Delete the user's factor, recovery codes and pending MFA logins (caller commits)."""
    for model in (TotpFactor, RecoveryCode, MfaChallenge):
        db.session.execute(delete(model).where(model.user_id == user.id))
    user.mfa_enabled = False
    user.updated_at = utcnow()


def disable(user, current_password, code, current_sid):
    """Turn MFA off (password and a code); end the user's other sessions."""
    if not user.mfa_enabled:
        raise Conflict("MFA is not on")
    _check_password(user, current_password)
    try:
        method = spend_code(user.id, code)
    except SecondFactorRejected as rejected:
        audit.failure("mfa.disable_failure", user_id=user.id, reason=rejected.reason)
        raise _refused(rejected) from None
    _remove_factors(user)
    revoked = sessions.revoke_all_sessions(user.id, keep_sid=current_sid)
    mail.notify(user, "mfa_disabled")
    db.session.commit()
    audit.record("mfa.disabled", user_id=user.id, method=method, sessions_revoked=revoked)


def regenerate_recovery_codes(user, code):
    """A new set of recovery codes (needs a TOTP code); the old set is void."""
    if not user.mfa_enabled:
        raise Conflict("MFA is not on")
    try:
        spend_code(user.id, code, recovery=False)
    except SecondFactorRejected as rejected:
        audit.failure(
            "mfa.recovery_codes.regenerate_failure", user_id=user.id, reason=rejected.reason
        )
        raise _refused(rejected) from None
    codes = _replace_recovery_codes(user.id)
    mail.notify(user, "recovery_codes_regenerated")
    db.session.commit()
    audit.record("mfa.recovery_codes.regenerated", user_id=user.id)
    return codes


def admin_reset(user):
    """An admin removes a user's MFA: factor and codes gone, every session ends."""
    if not user.mfa_enabled:
        raise Conflict("MFA is not on")
    _remove_factors(user)
    revoked = sessions.revoke_all_sessions(user.id)
    mail.notify(user, "mfa_disabled")
    db.session.commit()
    audit.record("admin.user.mfa_reset", user_id=user.id, sessions_revoked=revoked)
    return revoked
