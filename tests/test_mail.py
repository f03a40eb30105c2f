"""The outbox and its sender: leases, retries with backoff, giving up, metrics, the CLI.

Driven against a real SMTP server (aiosmtpd) that can be stopped, restarted
on the same port, or told to refuse with 4xx or 5xx replies.
"""

import socket
import threading
import time
from datetime import timedelta

import pytest
import time_machine
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from authsvc import mail
from authsvc.extensions import db
from authsvc.mail import outbox, sender
from authsvc.models import OutboxMail, User, utcnow
from testing.smtp_sink import ACCEPT, PERMANENT_FAILURE, TEMPORARY_FAILURE
from tests.helpers import make_app

FORGOT = "/api/v1/auth/password/forgot"


def samples(text):
    """{(sample name, sorted label items): value} from Prometheus text format."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(scraped, name, **labels):
    return scraped.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def app_settings(sink):
    return sink.settings(
        SMTP_TIMEOUT_SECONDS=2,
        MAIL_RETRY_BASE_SECONDS=30,
        MAIL_RETRY_MAX_SECONDS=3600,
        METRICS_ENABLED=True,
    )


def notice_for(app, user, kind="password_changed"):
    """Queue a notice for `user` and commit (as a use case would)."""
    with app.app_context():
        row = mail.notify(db.session.get(User, user["id"]), kind)
        db.session.commit()
        return row.id


def round_(app, at=None):
    """One sender round, at the time `at` (a fake clock) or now."""
    with app.app_context():
        if at is None:
            return sender.send_due()
        with time_machine.travel(at, tick=False):
            return sender.send_due()


def row_of(app, row_id):
    with app.app_context():
        return db.session.get(OutboxMail, row_id)


def test_notify_writes_nothing_until_the_caller_commits(app, user):
    with app.app_context():
        mail.notify(db.session.get(User, user["id"]), "mfa_enabled")
        db.session.rollback()
        assert db.session.scalars(select(OutboxMail)).all() == []
        with pytest.raises(ValueError, match="unknown notice"):
            mail.notify(db.session.get(User, user["id"]), "no_such_kind")


def test_smtp_down_then_up_delivers_once(app, user, sink):
    row_id = notice_for(app, user)
    port = sink.port
    sink.stop()
    assert round_(app)["deferred"] == 1
    row = row_of(app, row_id)
    assert (row.status, row.attempts) == ("pending", 1)
    assert "cannot reach" in row.last_error
    # Not due again before the backoff (30 s) is over.
    assert round_(app)["claimed"] == 0

    sink.port = port
    sink.start()
    assert round_(app, at=utcnow() + timedelta(seconds=31))["sent"] == 1
    assert len(sink.wait_for(1)) == 1
    assert round_(app, at=utcnow() + timedelta(hours=1))["claimed"] == 0
    assert len(sink.received) == 1
    assert row_of(app, row_id).status == "sent"


def test_a_4xx_is_retried_with_growing_delays(app, user, sink):
    row_id = notice_for(app, user)
    sink.refuse(TEMPORARY_FAILURE)
    start = utcnow()
    delays = []
    at = start
    for _ in range(4):
        assert round_(app, at=at)["deferred"] == 1
        row = row_of(app, row_id)
        delays.append((row.next_attempt_at - at).total_seconds())
        at = row.next_attempt_at + timedelta(seconds=1)
    assert [round(d) for d in delays] == [30, 60, 120, 240]
    assert "451" in row_of(app, row_id).last_error
    sink.refuse(ACCEPT)
    assert round_(app, at=at)["sent"] == 1
    assert len(sink.received) == 1


def test_a_5xx_gives_the_mail_up_at_once_logged_and_counted(app, client, user, sink, caplog):
    row_id = notice_for(app, user)
    sink.refuse(PERMANENT_FAILURE)
    assert round_(app)["failed"] == 1
    row = row_of(app, row_id)
    assert (row.status, row.message) == ("failed", None)
    assert "550" in row.last_error
    given_up = [r for r in caplog.records if r.name == "authsvc.mail" and r.levelname == "ERROR"]
    assert len(given_up) == 1 and "ada@example.com" not in given_up[0].getMessage()
    scraped = samples(client.get("/metrics").get_data(as_text=True))
    assert value(scraped, "authsvc_mail_outbox", status="failed") == 1
    assert value(scraped, "authsvc_mail_failed_total", kind="password_changed") >= 1
    assert round_(app, at=utcnow() + timedelta(days=1))["claimed"] == 0


def test_undelivered_for_the_retry_window_is_given_up(app, client, user, sink):
    row_id = notice_for(app, user)
    sink.stop()
    created = row_of(app, row_id).created_at
    assert round_(app)["deferred"] == 1
    scraped = samples(client.get("/metrics").get_data(as_text=True))
    assert value(scraped, "authsvc_mail_outbox", status="pending") == 1
    assert value(scraped, "authsvc_mail_outbox_oldest_pending_seconds") >= 0
    # Still retried just inside the window (24 h from the row's creation)...
    inside = round_(app, at=created + timedelta(hours=23, minutes=59))
    assert inside["deferred"] == 1
    # ...and given up at the first attempt after it.
    after = round_(app, at=created + timedelta(hours=25))
    assert after["failed"] == 1
    assert row_of(app, row_id).status == "failed"
    scraped = samples(client.get("/metrics").get_data(as_text=True))
    assert value(scraped, "authsvc_mail_outbox", status="failed") == 1
    assert value(scraped, "authsvc_mail_outbox", status="pending") == 0


def test_a_claim_that_dies_with_its_sender_is_taken_again_after_the_lease(app, user, sink):
    row_id = notice_for(app, user)
    lease = timedelta(seconds=app.config["MAIL_LEASE_SECONDS"])
    with app.app_context():
        (claimed,) = outbox.claim(10, lease)  # a sender that then dies (no mark)
        assert claimed.id == row_id
        assert outbox.claim(10, lease) == []  # nobody else takes it meanwhile
    assert round_(app, at=utcnow() + lease - timedelta(seconds=5))["claimed"] == 0
    assert round_(app, at=utcnow() + lease + timedelta(seconds=5))["sent"] == 1
    assert len(sink.received) == 1


def database_gone(row, **_):
    """outbox.mark_sent when the database cannot be reached."""
    raise OperationalError("UPDATE mail_outbox ...", {}, OSError("connection reset"))


def test_a_mail_sent_while_the_database_drops_is_marked_later_never_sent_twice(
    app, user, sink, monkeypatch
):
    delivered_id, waiting_id = notice_for(app, user), notice_for(app, user, "mfa_enabled")
    mark_sent = outbox.mark_sent
    monkeypatch.setattr(outbox, "mark_sent", database_gone)
    with pytest.raises(OperationalError):
        round_(app)  # the server took the first mail; its row could not be marked
    assert len(sink.received) == 1
    monkeypatch.setattr(outbox, "mark_sent", mark_sent)
    # The database is back within the lease: the row is marked; the second mail of that
    # round was never sent, and goes out once the lease is over (late, never lost).
    lease = timedelta(seconds=app.config["MAIL_LEASE_SECONDS"])
    assert round_(app)["claimed"] == 0
    assert row_of(app, delivered_id).status == "sent"
    assert round_(app, at=utcnow() + lease + timedelta(seconds=5))["sent"] == 1
    assert round_(app, at=utcnow() + timedelta(hours=2))["claimed"] == 0
    assert row_of(app, waiting_id).status == "sent"
    assert len(sink.received) == len({item.message["Message-ID"] for item in sink.received}) == 2


def test_a_mark_the_database_missed_is_no_use_once_another_sender_took_the_mail(
    app, user, sink, monkeypatch
):
    """The control: marking checks the claim, so a mail whose lease ran out before the
    database came back is sent again by the sender that took it (late twice, never lost)."""
    row_id = notice_for(app, user)
    mark_sent = outbox.mark_sent
    monkeypatch.setattr(outbox, "mark_sent", database_gone)
    with pytest.raises(OperationalError):
        round_(app)
    monkeypatch.setattr(outbox, "mark_sent", mark_sent)
    lease = timedelta(seconds=app.config["MAIL_LEASE_SECONDS"])
    with app.app_context(), time_machine.travel(utcnow() + lease + timedelta(seconds=5)):
        (taken,) = outbox.claim(10, lease)  # another sender, after the lease
        taken_claim = taken.claim
    assert round_(app)["claimed"] == 0  # the stale mark finds another claim: no effect
    assert row_of(app, row_id).claim == taken_claim and unmarked_of(app) == []


def unmarked_of(app):
    with app.app_context():
        return list(sender.unmarked())


def sent_while_the_database_drops(app, user, monkeypatch):
    """A round whose mail the server took and the database could not mark."""
    row_id = notice_for(app, user)
    mark_sent = outbox.mark_sent
    monkeypatch.setattr(outbox, "mark_sent", database_gone)
    with pytest.raises(OperationalError):
        round_(app)
    monkeypatch.setattr(outbox, "mark_sent", mark_sent)  # the database is back
    assert [item.id for item in unmarked_of(app)] == [row_id]
    return row_id


def after_the_lease(app):
    lease = timedelta(seconds=app.config["MAIL_LEASE_SECONDS"])
    return round_(app, at=utcnow() + lease + timedelta(seconds=5))


@pytest.mark.parametrize("stop", ["graceful", "killed"])
def test_a_sender_that_stops_marks_what_it_could_not_first(app, user, sink, monkeypatch, stop):
    """A graceful stop (gunicorn's worker_exit) before the next round marks the mail;
    the control, a sender killed instead (its memory lost), sends it again after the lease."""
    row_id = sent_while_the_database_drops(app, user, monkeypatch)
    thread = sender.SenderThread(app)
    if stop == "graceful":
        thread.stopping.set()  # stopped before its first round: only the stop marks it
        thread.start()
        thread.stop()
        assert not thread.is_alive()
    else:
        app.extensions[sender.UNMARKED].clear()
    assert after_the_lease(app)["sent"] == (0 if stop == "graceful" else 1)
    assert row_of(app, row_id).status == "sent"
    assert len(sink.received) == (1 if stop == "graceful" else 2)


def test_send_pending_marks_what_the_database_missed_before_it_exits(
    app, runner, user, sink, monkeypatch
):
    """The database drops as the command marks a mail and is back at once: the
    command fails, but not before it marks the mail, which the server took."""
    row_id = notice_for(app, user)
    mark_sent = outbox.mark_sent
    calls = []

    def drops_once(row, **kwargs):
        calls.append(row.id)
        return database_gone(row) if len(calls) == 1 else mark_sent(row, **kwargs)

    monkeypatch.setattr(outbox, "mark_sent", drops_once)
    result = runner.invoke(args=["mail", "send-pending"])
    assert isinstance(result.exception, OperationalError)
    assert calls == [row_id, row_id]  # the failed mark, then the one as it exits
    assert row_of(app, row_id).status == "sent" and unmarked_of(app) == []
    assert after_the_lease(app)["claimed"] == 0
    assert len(sink.received) == 1


def test_a_sender_that_cannot_mark_as_it_stops_says_which_mails_go_out_again(
    app, user, sink, monkeypatch, caplog
):
    row_id = sent_while_the_database_drops(app, user, monkeypatch)
    monkeypatch.setattr(outbox, "mark_sent", database_gone)  # down again
    with app.app_context():
        assert sender.flush_unmarked() == 1
    assert f"mail {row_id} (password_changed): sent but not marked" in caplog.text


def test_mails_left_unmarked_belong_to_their_app(app, user, sink, monkeypatch, database_url):
    """Two apps in one process (tests, an embedding): one's unmarked mails are not the other's."""
    sent_while_the_database_drops(app, user, monkeypatch)
    other = make_app(database_url, MAIL_BACKEND="file")
    assert unmarked_of(other) == []
    assert len(unmarked_of(app)) == 1


def test_concurrent_claims_never_share_a_row(app, make_user):
    user = make_user("ada", email="ada@example.com")
    with app.app_context():
        ada = db.session.get(User, user["id"])
        for _ in range(60):
            mail.notify(ada, "password_changed")
        db.session.commit()
    taken = []
    barrier = threading.Barrier(4)

    def claimer():
        with app.app_context():
            barrier.wait()
            while rows := outbox.claim(3, timedelta(minutes=5)):
                taken.extend(row.id for row in rows)
            db.session.remove()

    threads = [threading.Thread(target=claimer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(taken) == 60 and len(set(taken)) == 60


def test_the_request_never_waits_for_the_mail_server(app, client, user):
    # A "mail server" that accepts connections and never says a word.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        app.config["SMTP_PORT"] = silent.getsockname()[1]
        started = time.monotonic()
        for _ in range(5):
            assert client.post(FORGOT, json={"email": "ada@example.com"}).status_code == 202
        assert time.monotonic() - started < 1.0
        # The sender is the one that waits (its timeout), and retries later.
        assert round_(app)["deferred"] == 5


def test_send_pending_command_delivers_what_is_due(app, runner, user, sink):
    notice_for(app, user)
    notice_for(app, user, "mfa_enabled")
    result = runner.invoke(args=["mail", "send-pending"])
    assert result.exit_code == 0, result.output
    assert "Sent 2" in result.output and "0 pending" in result.output
    assert len(sink.wait_for(2)) == 2
    assert {m.message["Subject"] for m in sink.received} == {
        "Your password was changed",
        "Two-step verification is on",
    }


def test_file_backend_writes_eml_files_under_the_instance_folder(app, user, tmp_path):
    app.config.update(MAIL_BACKEND="file", MAIL_FILE_DIR=str(tmp_path / "mail"))
    notice_for(app, user)
    assert round_(app)["sent"] == 1
    (written,) = (tmp_path / "mail").glob("*.eml")
    assert b"To: ada@example.com" in written.read_bytes()
