"""Deliver due outbox rows: one bounded background thread per gunicorn worker.

Each worker runs one sender thread (started by gunicorn's `post_worker_init`
hook, so a restarted service resumes delivery by itself, and `make run` needs
no second process). A round claims at most `MAIL_BATCH_SIZE` rows under a
lease of `MAIL_LEASE_SECONDS`, renders those that have no message yet, and
sends them over one connection. The thread sleeps `MAIL_SEND_INTERVAL_SECONDS`
between rounds, and wakes at once when a request of its own worker commits a
mail. `flask mail send-pending` runs the same rounds in the foreground.

A mail the SMTP server took while the database could not be reached to mark
it sent is kept in memory (per app) and marked first thing in a later round,
and when the sender stops (the thread, or the command, ends): its row stays
claimed by this sender until the lease ends. A mail goes out up to half the
lease after its claim (the round's deadline), so a database outage shorter
than `MAIL_LEASE_SECONDS / 2`, less the wait for the next round, sends nobody
a mail twice. (A sender that dies in that moment cannot help it: its mail
goes out again after the lease.)
"""

import email
import logging
import threading
import time
from collections import Counter as Tally
from dataclasses import dataclass
from datetime import timedelta
from email import policy

from flask import current_app
from prometheus_client import Counter
from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError

from ..extensions import db
from ..metrics import REGISTRY
from . import outbox, recipient_hash
from .backends import PermanentMailError, TransientMailError, backend_from_config
from .compose import compose

log = logging.getLogger("authsvc.mail")

DELIVERED = Counter(
    "authsvc_mail_delivered",
    "Mails handed to the mail server (or written to a file).",
    ["kind"],
    registry=REGISTRY,
)
FAILED = Counter(
    "authsvc_mail_failed",
    "Mails given up: refused for good, or undelivered for MAIL_RETRY_HOURS.",
    ["kind"],
    registry=REGISTRY,
)
DEFERRED = Counter(
    "authsvc_mail_deferred",
    "Delivery attempts that failed and will be retried.",
    ["kind"],
    registry=REGISTRY,
)

WAKE = threading.Event()


@dataclass(frozen=True)
class Delivered:
    """A mail the SMTP server took: enough to mark its row sent while the claim is ours."""

    id: int
    claim: str
    kind: str


UNMARKED = "authsvc.mail.unmarked"  # the app's extensions key


def unmarked():
    """The app's delivered mails whose row the database could not mark sent yet."""
    return current_app.extensions.setdefault(UNMARKED, [])


def mark_unmarked():
    """Mark sent the rows of mails delivered in an earlier round (the database was down)."""
    waiting = unmarked()
    while waiting:
        item = waiting[0]
        if not outbox.mark_sent(item):  # its lease ran out and another sender took it
            log.warning("mail %s (%s): sent, and claimed again since", item.id, item.kind)
        waiting.pop(0)


def flush_unmarked():
    """Mark what earlier rounds could not, as a sender stops; return how many are left.

    Left in memory, such a mail would go out again once its lease ends. When the
    database still cannot be reached, each one left is logged.
    """
    try:
        mark_unmarked()
    except SQLAlchemyError:
        db.session.rollback()
        for item in unmarked():
            log.warning(
                "mail %s (%s): sent but not marked (database unreachable); "
                "it goes out again after its lease",
                item.id,
                item.kind,
            )
    return len(unmarked())


def send_due():
    """One round: claim, render and send due rows; a tally of what happened to them."""
    mark_unmarked()
    config = current_app.config
    lease = timedelta(seconds=config["MAIL_LEASE_SECONDS"])
    rows = outbox.claim(config["MAIL_BATCH_SIZE"], lease)
    tally = Tally(claimed=len(rows))
    if not rows:
        return tally
    # Stop sending in time for the lease: another sender may claim a row after it.
    deadline = time.monotonic() + lease.total_seconds() / 2
    ready = []
    for row in rows:
        message = render(row, tally)
        if message is not None:
            ready.append((row, message))
    pending = dict.fromkeys(row.id for row, _ in ready)
    backend = backend_from_config(config, current_app.instance_path)
    try:
        with backend.connection() as connection:
            for row, message in ready:
                if time.monotonic() > deadline:
                    outbox.release(row)
                    tally["released"] += 1
                else:
                    deliver(connection, row, message, tally)
                pending.pop(row.id)
    except TransientMailError as error:  # no connection: every row waits for the next try
        for row, _message in ready:
            if row.id in pending:
                defer(row, error, tally)
    return tally


def render(row, tally):
    """The row's message, rendered and stored once; None when it was skipped or failed."""
    if row.message is not None:
        return email.message_from_string(row.message, policy=policy.default)
    try:
        message = compose(row)
    except Exception as error:
        db.session.rollback()
        log.exception("mail %s (%s): cannot render", row.id, row.kind)
        give_up(row, f"cannot render: {type(error).__name__}", tally)
        return None
    if message is None:
        db.session.rollback()
        outbox.mark_skipped(row)
        tally["skipped"] += 1
        return None
    outbox.store_message(row, message.as_string())  # commits the token with it
    return message


def deliver(connection, row, message, tally):
    delivered = Delivered(row.id, row.claim, row.kind)  # read before the send, not after
    try:
        connection.send(message)
    except PermanentMailError as error:
        give_up(row, error, tally)
    except TransientMailError as error:
        defer(row, error, tally)
    else:
        DELIVERED.labels(row.kind).inc()
        tally["sent"] += 1
        try:
            marked = outbox.mark_sent(delivered)
        except SQLAlchemyError:
            db.session.rollback()
            unmarked().append(delivered)  # the next round, or the sender's stop, marks it
            raise
        if not marked:
            log.warning("mail %s (%s): sent after its lease ran out", row.id, row.kind)


def defer(row, error, tally):
    if not outbox.retry_later(row, error):
        give_up(row, f"undelivered for {current_app.config['MAIL_RETRY_HOURS']} h: {error}", tally)
        return
    DEFERRED.labels(row.kind).inc()
    tally["deferred"] += 1
    log.warning(
        "mail %s (%s) to %s: attempt %d failed, will retry: %s",
        row.id,
        row.kind,
        recipient_hash(row.recipient),
        row.attempts,
        error,
    )


def give_up(row, error, tally):
    outbox.mark_failed(row, error)
    FAILED.labels(row.kind).inc()
    tally["failed"] += 1
    log.error(
        "mail %s (%s) to %s: given up after %d attempts: %s",
        row.id,
        row.kind,
        recipient_hash(row.recipient),
        row.attempts,
        error,
    )


def send_pending():
    """Rounds until nothing is due (the operators' command); the summed tally.

    Whatever happens, it ends by marking what a round could not (`flush_unmarked`).
    """
    total = Tally()
    try:
        while True:
            tally = send_due()
            total.update(tally)
            if tally["claimed"] == 0 or tally["claimed"] == tally["deferred"] + tally["released"]:
                return total
    finally:
        flush_unmarked()


class SenderThread(threading.Thread):
    def __init__(self, app):
        super().__init__(name="authsvc-mail-sender", daemon=True)
        self.app = app
        self.stopping = threading.Event()

    def run(self):
        interval = self.app.config["MAIL_SEND_INTERVAL_SECONDS"]
        batch = self.app.config["MAIL_BATCH_SIZE"]
        while not self.stopping.is_set():
            full = False
            try:
                with self.app.app_context():
                    full = send_due()["claimed"] >= batch
            except Exception:  # the database is down, say: try again next round
                log.exception("mail sender: round failed")
            if not full:
                WAKE.wait(interval)
                WAKE.clear()
        with self.app.app_context():
            flush_unmarked()

    def stop(self, timeout=5.0):
        self.stopping.set()
        WAKE.set()
        self.join(timeout)


def wake_after_mail_commit(session):
    if session.info.pop("mail_enqueued", False):
        WAKE.set()


_thread = None


def start(app):
    """Start this process's sender thread (gunicorn's post_worker_init), once.

    Only for an authsvc app with MAIL_SENDER_ENABLED: gunicorn.conf.py also
    serves other WSGI apps (the benchmark's bare-Flask baseline).
    """
    global _thread
    if not getattr(app, "config", {}).get("MAIL_SENDER_ENABLED") or _thread is not None:
        return None
    event.listen(db.session, "after_commit", wake_after_mail_commit)
    _thread = SenderThread(app)
    _thread.start()
    return _thread


def stop():
    """Let a round in flight finish (gunicorn's worker_exit)."""
    if _thread is not None:
        _thread.stop()
