"""One-time email tokens (verify an address, reset a password); never commits.

A token is 256 random bits (`secrets`), shown once in a mail; the database
keeps only its SHA-256. It is spent by one conditional UPDATE, so of two
concurrent uses exactly one wins, and a newer token of the same purpose voids
the older ones.
"""

import hashlib
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, or_, select, update

from .extensions import db
from .models import EmailToken, utcnow

VERIFY, RESET = "verify", "reset"
MAX_TOKEN_LENGTH = 128  # what the schemas accept; real tokens have 43 characters


def lifetime(purpose):
    config = current_app.config
    if purpose == VERIFY:
        return timedelta(hours=config["EMAIL_VERIFY_EXPIRE_HOURS"])
    if purpose == RESET:
        return timedelta(minutes=config["PASSWORD_RESET_EXPIRE_MINUTES"])
    raise ValueError(f"unknown email token purpose {purpose!r}")


def digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


def issue(user, purpose, *, email=None, now=None):
    """A new token for `user` (its hash added to the session); older ones of `purpose` die."""
    now = now or utcnow()
    void(user.id, purpose, now=now)
    token = secrets.token_urlsafe(32)
    db.session.add(
        EmailToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=digest(token),
            email=email or user.email,
            created_at=now,
            expires_at=now + lifetime(purpose),
        )
    )
    return token


def void(user_id, purpose=None, *, now=None):
    """Spend every live token of the user (of `purpose`, or all); the number voided."""
    statement = update(EmailToken).where(
        EmailToken.user_id == user_id, EmailToken.spent_at.is_(None)
    )
    if purpose is not None:
        statement = statement.where(EmailToken.purpose == purpose)
    result = db.session.execute(
        statement.values(spent_at=now or utcnow()).execution_options(synchronize_session=False)
    )
    return result.rowcount


def live_conditions(token, purpose, now):
    return (
        EmailToken.token_hash == digest(token),
        EmailToken.purpose == purpose,
        EmailToken.spent_at.is_(None),
        EmailToken.expires_at > now,
    )


def find(token, purpose, *, now=None):
    """The live token row for `token`, or None; spends nothing (a check before the spend)."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    return db.session.scalars(
        select(EmailToken).where(*live_conditions(token, purpose, now or utcnow()))
    ).first()


def spend(token, purpose, *, now=None):
    """Spend `token` atomically; (user_id, email) it was issued for, or None when it is dead.

    `UPDATE ... WHERE hash = ? AND spent_at IS NULL AND expires_at > now`: of
    two concurrent spenders the database lets exactly one match.
    """
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    now = now or utcnow()
    result = db.session.execute(
        update(EmailToken)
        .where(*live_conditions(token, purpose, now))
        .values(spent_at=now)
        .returning(EmailToken.user_id, EmailToken.email)
        .execution_options(synchronize_session=False)
    )
    row = result.first()
    return None if row is None else (row.user_id, row.email)


def prune(*, now=None):
    """Delete spent and expired tokens (caller commits); return how many."""
    now = now or utcnow()
    result = db.session.execute(
        delete(EmailToken).where(
            or_(EmailToken.spent_at.is_not(None), EmailToken.expires_at <= now)
        )
    )
    return result.rowcount
