"""Password reset and email verification: use cases shared by the API; each commits once.

The mail each one causes is an outbox row in the same transaction (`mail`), so
an acknowledged request never loses its mail and a failed one sends none.
"""

from flask import current_app

from . import audit, email_tokens, mail, mfa, passwords, sessions
from .errors import (
    EmailUnverified,
    InvalidEmailToken,
    SecondFactorFailed,
    SecondFactorRejected,
    ValidationFailed,
)
from .extensions import db
from .models import User


def request_password_reset(email):
    """Queue a reset mail for `email`: the same single row whether or not it is an account's.

    The sender renders it later (with a token) only if an active account has
    that address then; so this answer does the same work, in the same time,
    for every address.
    """
    mail.send_password_reset(email)
    db.session.commit()
    audit.record("password.reset_requested", recipient=mail.recipient_hash(email))


def second_factor_check(user, mfa_code):
    """Where a reset asks for the account's second factor; True when it passes.

    A reset link proves only that one reads the user's mail: when the account
    has MFA, the reset also needs a TOTP or recovery code, spent (in this
    transaction) like any other. Called before the reset token is spent, so a
    failed check leaves the token usable; a wrong code counts towards the TOTP
    lockout as everywhere.
    """
    if not user.mfa_enabled:
        return True
    if not mfa_code:
        return False
    try:
        mfa.spend_code(user.id, mfa_code)
    except SecondFactorRejected:
        return False
    return True


def reset_password(token, password, mfa_code=None):
    """Set a new password with a reset token; every session of the user ends.

    Order matters: the token is looked at (not spent), the second factor and
    the password policy are checked, and only then is the token spent, by one
    conditional UPDATE (so two concurrent resets cannot both win), in the same
    transaction as the new password, what a password change ends
    (`password_changed`), the end of every session and the notice.
    """
    found = email_tokens.find(token, email_tokens.RESET)
    user = db.session.get(User, found.user_id) if found is not None else None
    if user is None or not user.is_active:
        raise InvalidEmailToken()
    if not second_factor_check(user, mfa_code):
        raise SecondFactorFailed()
    problems = passwords.policy_problems(password, username=user.username, email=user.email)
    if problems:
        raise ValidationFailed("Password refused", errors={"password": problems})
    new_hash = passwords.hash_password(password)  # before the spend: bcrypt holds no lock
    if email_tokens.spend(token, email_tokens.RESET) is None:
        db.session.rollback()
        raise InvalidEmailToken()
    user.password_hash = new_hash
    password_changed(user, notice="password_reset")
    revoked = sessions.revoke_all_sessions(user.id)
    db.session.commit()
    audit.record("password.reset", user_id=user.id, sessions_revoked=revoked)
    return user


def verify_email(token):
    """Mark the address a verification token was sent to as verified; return the user."""
    spent = email_tokens.spend(token, email_tokens.VERIFY)
    user = db.session.get(User, spent[0]) if spent is not None else None
    if user is None or user.email != spent[1]:
        db.session.rollback()
        raise InvalidEmailToken()
    user.email_verified = True
    db.session.commit()
    audit.record("email.verified", user_id=user.id)
    return user


def resend_verification(user):
    """Queue a new verification mail (voiding the older link when it is rendered), if needed."""
    if user.email_verified:
        return False
    mail.send_verification(user)
    db.session.commit()
    audit.record("email.verification_requested", user_id=user.id)
    return True


def verification_required():
    """EMAIL_VERIFICATION_REQUIRED: no session before the address is verified."""
    return current_app.config["EMAIL_VERIFICATION_REQUIRED"]


def require_verified_email(user, login):
    """With EMAIL_VERIFICATION_REQUIRED, refuse a login (right credentials) until verified."""
    if verification_required() and not user.email_verified:
        audit.failure("login.failure", user_id=user.id, login=login, reason="email_unverified")
        raise EmailUnverified()


def password_changed(user, notice="password_changed"):
    """What a new password ends besides sessions (caller commits).

    Every reset link; the user is told by the `notice` mail. The sessions, and
    the MFA logins still waiting for a code (begun with the old password),
    end by `sessions.revoke_all_sessions`, which every caller runs.
    """
    email_tokens.void(user.id, email_tokens.RESET)
    mail.notify(user, notice)


def email_changed(user, old_email):
    """A new address is unverified until its link is used; the old one is told (caller commits)."""
    user.email_verified = False
    email_tokens.void(user.id, email_tokens.VERIFY)
    mail.send_verification(user)
    mail.notify(user, "email_changed", to=old_email)


def prune():
    """Delete spent or expired email tokens and mail finished a week ago; commits."""
    tokens = email_tokens.prune()
    mails = mail.outbox.prune()
    db.session.commit()
    return tokens, mails
