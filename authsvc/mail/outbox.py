"""The outbox: mail rows written with their cause, claimed by senders under a lease.

States: `pending` (due at `next_attempt_at`), `sent`, `skipped` (nothing to
send, e.g. a reset asked for an address with no active account) and `failed`
(refused for good, or still undelivered after `MAIL_RETRY_HOURS`).
"""

import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select, update

from ..extensions import db
from ..models import OutboxMail, utcnow

PENDING, SENT, SKIPPED, FAILED = "pending", "sent", "skipped", "failed"
STATUSES = (PENDING, SENT, SKIPPED, FAILED)
MAX_ERROR = 255


def enqueue(kind, recipient, *, user_id=None, context=None):
    """Add a mail row to the current db session; the caller's use case commits it."""
    row = OutboxMail(
        kind=kind,
        recipient=recipient,
        user_id=user_id,
        context=dict(context or {}),
        status=PENDING,
        attempts=0,
        next_attempt_at=utcnow(),
    )
    db.session.add(row)
    db.session.info["mail_enqueued"] = True  # the sender wakes after the commit
    return row


def claim(limit, lease, *, now=None):
    """Claim up to `limit` due rows for `lease` (a timedelta) and commit; return them.

    On PostgreSQL the rows are picked `FOR UPDATE SKIP LOCKED`, so concurrent
    senders take different rows without waiting; SQLite runs the UPDATE under
    its single writer lock, which makes it atomic there. Either way the UPDATE
    re-checks that each row is still due, so a row is claimed once per lease.
    """
    now = now or utcnow()
    token = secrets.token_hex(16)
    due = (OutboxMail.status == PENDING, OutboxMail.next_attempt_at <= now)
    picked = (
        select(OutboxMail.id)
        .where(*due)
        .order_by(OutboxMail.next_attempt_at, OutboxMail.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    db.session.execute(
        update(OutboxMail)
        .where(OutboxMail.id.in_(picked.scalar_subquery()), *due)
        .values(claim=token, next_attempt_at=now + lease, attempts=OutboxMail.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return list(
        db.session.scalars(
            select(OutboxMail).where(OutboxMail.claim == token).order_by(OutboxMail.id)
        )
    )


def _finish(row, **values):
    """Update a claimed row (anything with its `id` and `claim`), only while the claim is
    still ours; commit. True if it was."""
    result = db.session.execute(
        update(OutboxMail)
        .where(OutboxMail.id == row.id, OutboxMail.claim == row.claim)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def store_message(row, message):
    """Keep the rendered message, so a retry sends the very same mail (and token)."""
    row.message = message
    db.session.commit()


def mark_sent(row, *, now=None):
    return _finish(row, status=SENT, message=None, claim=None, finished_at=now or utcnow())


def mark_skipped(row, *, now=None):
    return _finish(row, status=SKIPPED, message=None, claim=None, finished_at=now or utcnow())


def mark_failed(row, error, *, now=None):
    return _finish(
        row,
        status=FAILED,
        message=None,  # a token in an undeliverable mail is no use to anyone
        claim=None,
        last_error=str(error)[:MAX_ERROR],
        finished_at=now or utcnow(),
    )


def retry_later(row, error, *, now=None):
    """Schedule the next attempt with exponential backoff; False when the window is over."""
    now = now or utcnow()
    config = current_app.config
    if now >= row.created_at + timedelta(hours=config["MAIL_RETRY_HOURS"]):
        return False
    delay = min(
        config["MAIL_RETRY_BASE_SECONDS"] * 2 ** max(row.attempts - 1, 0),
        config["MAIL_RETRY_MAX_SECONDS"],
    )
    _finish(
        row,
        claim=None,
        next_attempt_at=now + timedelta(seconds=delay),
        last_error=str(error)[:MAX_ERROR],
    )
    return True


def release(row):
    """Hand an unsent claimed row back at once (the lease ran short)."""
    _finish(row, claim=None, next_attempt_at=utcnow(), attempts=OutboxMail.attempts - 1)


def counts():
    """Rows per status, and the age in seconds of the oldest pending one (0 when none)."""
    found = dict.fromkeys(STATUSES, 0)
    for status, count in db.session.execute(
        select(OutboxMail.status, db.func.count()).group_by(OutboxMail.status)
    ):
        found[status] = count
    oldest = db.session.scalar(
        select(OutboxMail.created_at)
        .where(OutboxMail.status == PENDING)
        .order_by(OutboxMail.created_at)
        .limit(1)
    )
    age = (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
    return found, max(age, 0.0)


def prune(*, keep=timedelta(days=7), now=None):
    """Delete rows finished (sent, skipped, failed) longer than `keep` ago (caller commits)."""
    cutoff = (now or utcnow()) - keep
    result = db.session.execute(
        delete(OutboxMail).where(OutboxMail.status != PENDING, OutboxMail.finished_at < cutoff)
    )
    return result.rowcount
