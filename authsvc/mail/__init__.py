"""Mail: the outbox, its sender, the SMTP and file backends, the messages.

Use cases call these inside their transaction; nothing here commits, so a mail
is written (or not) together with the change that causes it:

- `notify(user, kind, **context)`: a notice (`password_changed`,
  `password_reset`, `email_changed`, `mfa_enabled`, `mfa_disabled`,
  `recovery_codes_regenerated`) to the user's address, or to `to=`.
- `send_verification(user)`: a link that verifies the user's current address.
- `send_password_reset(email)`: a reset link, if an active account has that
  address when the mail is rendered (so the request does the same either way).
"""

import hashlib

from . import messages, outbox


def recipient_hash(address):
    """How logs and audit records name a recipient: never the address itself."""
    return hashlib.sha256(address.strip().lower().encode()).hexdigest()[:16]


def notify(user, kind, *, to=None, **context):
    """Queue the notice `kind` for `user` (to `to`, default their address); no commit."""
    if kind not in messages.NOTICE_KINDS:
        raise ValueError(f"unknown notice {kind!r}")
    return outbox.enqueue(kind, to or user.email, user_id=user.id, context=context)


def send_verification(user):
    """Queue a verification mail to the user's current address; no commit."""
    return outbox.enqueue("verify_email", user.email, user_id=user.id)


def send_password_reset(email):
    """Queue a reset mail for `email`, rendered (or skipped) by the sender; no commit."""
    return outbox.enqueue("reset_password", email)
