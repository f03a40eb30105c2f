"""The second step of a login with MFA on: an `mfa_token` and a code make a session.

A right password of an MFA user opens no session: it records a challenge (the
`mfa_token`'s digest, 5 minutes, 5 wrong codes) and answers 403. `verify`
spends the challenge and the code in one transaction: the challenge by a
conditional UPDATE (unused, unexpired, under its failure bound), the code by
`mfa.spend_code`; a refused code rolls both back and is counted instead.
Whatever ends every session of the user (`sessions.revoke_all_sessions`:
logout-all, a password change, a deactivation) ends the challenges still
pending too.
"""

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, or_, select, update

from . import audit, mfa, otp, sessions
from .errors import SecondFactorRejected
from .extensions import db
from .models import MfaChallenge, User, utcnow

CHALLENGE_LIFETIME = timedelta(minutes=5)
CHALLENGE_MAX_FAILURES = 5
METHODS = ("totp", "recovery_code")
AMR = ("pwd", "otp", "mfa")


def challenge(user):
    """Record a pending MFA login for `user` (caller commits); return its `mfa_token`."""
    token = otp.new_mfa_token()
    now = utcnow()
    db.session.add(
        MfaChallenge(
            token_hash=otp.digest(token),
            user_id=user.id,
            created_at=now,
            expires_at=now + CHALLENGE_LIFETIME,
        )
    )
    return token


def challenged_user_id(mfa_token):
    """The user an `mfa_token` was issued to (live or not), or None: for rate limits."""
    return db.session.execute(
        select(MfaChallenge.user_id).where(MfaChallenge.token_hash == otp.digest(mfa_token))
    ).scalar_one_or_none()


def prune_expired():
    """Delete MFA logins that expired or were spent; commits and returns how many."""
    pruned = db.session.execute(
        delete(MfaChallenge).where(
            or_(MfaChallenge.expires_at <= utcnow(), MfaChallenge.used_at.is_not(None))
        )
    ).rowcount
    db.session.commit()
    return pruned


@dataclass(frozen=True)
class Verified:
    user_id: int
    method: str
    pair: dict


def verify(mfa_token, code, client):
    """Exchange a live `mfa_token` and a right code for a new session's token pair."""
    token_hash = otp.digest(mfa_token)
    now = utcnow()
    user_id = db.session.execute(
        update(MfaChallenge)
        .where(
            MfaChallenge.token_hash == token_hash,
            MfaChallenge.used_at.is_(None),
            MfaChallenge.expires_at > now,
            MfaChallenge.failed_attempts < CHALLENGE_MAX_FAILURES,
        )
        .values(used_at=now)
        .returning(MfaChallenge.user_id)
    ).scalar_one_or_none()
    user = db.session.get(User, user_id) if user_id is not None else None
    if user is None or not user.is_active or not user.mfa_enabled:
        db.session.rollback()
        audit.failure("mfa.verify.failure", user_id=user_id, reason="invalid_token")
        raise SecondFactorRejected(reason="invalid_token")
    count_failure = (
        update(MfaChallenge)
        .where(MfaChallenge.token_hash == token_hash)
        .values(failed_attempts=MfaChallenge.failed_attempts + 1)
    )
    try:
        method = mfa.spend_code(user.id, code, on_failure=[count_failure])
    except SecondFactorRejected as rejected:
        audit.failure("mfa.verify.failure", user_id=user_id, reason=rejected.reason)
        raise
    started = sessions.start(user, client, amr=AMR)
    db.session.commit()
    audit.record(
        "mfa.verify.success", user_id=user_id, session_id=started.session_id, method=method
    )
    return Verified(user_id=user_id, method=method, pair=started.tokens)
