"""Render an outbox row into its message, at send time (never inside the request).

Token mails get their token here, so a request for a password reset writes the
same single row whether or not the address has an account: the answer cannot
tell them apart by what it did. A row with nothing to send (no active account
with that address, an address already verified or no longer the user's) is
skipped.
"""

from flask import current_app
from sqlalchemy import select

from .. import email_tokens
from ..extensions import db
from ..models import User
from . import messages


def compose(row):
    """The EmailMessage for `row`, or None when there is nothing to send."""
    config = current_app.config
    values = dict(row.context or {})
    if row.kind == "reset_password":
        user = db.session.scalars(
            select(User).where(User.email == row.recipient, User.is_active.is_(True))
        ).first()
        if user is None:
            return None
        token = email_tokens.issue(user, email_tokens.RESET)
        values["minutes"] = config["PASSWORD_RESET_EXPIRE_MINUTES"]
    elif row.kind == "verify_email":
        user = db.session.get(User, row.user_id) if row.user_id is not None else None
        if user is None or user.email != row.recipient or user.email_verified:
            return None
        token = email_tokens.issue(user, email_tokens.VERIFY, email=row.recipient)
        values["hours"] = config["EMAIL_VERIFY_EXPIRE_HOURS"]
    elif row.kind in messages.NOTICE_KINDS:
        user = db.session.get(User, row.user_id) if row.user_id is not None else None
        token = None
    else:
        raise ValueError(f"no template for mail kind {row.kind!r}")
    values.setdefault("username", user.username if user is not None else "")
    if token is not None:
        values["token"] = token
        values["link"] = messages.token_link(config["FRONTEND_URL"], row.kind, token)
    return messages.build(
        row.kind, recipient=row.recipient, mail_from=config["MAIL_FROM"], values=values
    )
