"""The outbox under real gunicorn: kill -9 after acknowledged bursts, two instances on one
database. Every mail is counted where it arrives: at a real SMTP server (aiosmtpd)."""

import json
import os
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from testing.databases import backend_params, postgres_database, throwaway_database
from testing.live_server import ROOT, LiveServer, migrate
from testing.smtp_sink import SmtpSink

pytestmark = pytest.mark.slow

BURST = int(os.environ.get("MAIL_CRASH_BURST", "120"))
CLIENTS = 12
RESET_SUBJECT = "Reset your password"
VERIFY_SUBJECT = "Confirm your email address"
FIGURES = ROOT / "test-artifacts" / "mail"


def mail_env(sink, **extra):
    """The environment of a gunicorn that mails to `sink`."""
    settings = sink.settings(
        **{"MAIL_SEND_INTERVAL_SECONDS": 0.2, "MAIL_RETRY_BASE_SECONDS": 1, **extra}
    )
    return {name: str(value) for name, value in settings.items()}


def post(url, body):
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None  # not acknowledged: the server died under it


def addresses(sink, subject):
    """How many mails of `subject` each address received."""
    with sink.lock:
        return Counter(
            item.rcpt_tos[0] for item in sink.received if item.message["Subject"] == subject
        )


def wait_until(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def register_users(server, sink, count, prefix):
    emails = [f"{prefix}{n}@example.com" for n in range(count)]
    with ThreadPoolExecutor(CLIENTS) as pool:
        statuses = list(
            pool.map(
                lambda email: post(
                    f"{server.url}/api/v1/auth/register",
                    {
                        "email": email,
                        "username": email.split("@")[0],
                        "password": "a-long-passphrase",
                    },
                ),
                emails,
            )
        )
    assert statuses == [201] * count
    assert wait_until(lambda: len(addresses(sink, VERIFY_SUBJECT)) >= count, 60)
    return emails


def burst(server, existing):
    """Forgot-password for every existing address and as many registrations, at once."""
    jobs = [("forgot", email) for email in existing] + [
        ("register", f"new{n}@example.com") for n in range(len(existing))
    ]

    def run(job):
        kind, email = job
        if kind == "forgot":
            return job, post(f"{server.url}/api/v1/auth/password/forgot", {"email": email})
        body = {"email": email, "username": email.split("@")[0], "password": "a-long-passphrase"}
        return job, post(f"{server.url}/api/v1/auth/register", body)

    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(run, jobs))
    acknowledged = {job for job, status in results if status in (201, 202)}
    return acknowledged, results


def write_figures(name, figures):
    FIGURES.mkdir(parents=True, exist_ok=True)
    (FIGURES / f"{name}.json").write_text(json.dumps(figures, indent=2))
    print(name, figures)


@pytest.mark.parametrize("backend", backend_params())
def test_kill_9_after_acknowledged_bursts_loses_no_mail(backend, tmp_path):
    with SmtpSink() as sink, throwaway_database(backend, "mailcrash", tmp_path) as url:
        migrate(url)
        # A short lease, so the rows a killed sender had claimed come back quickly.
        env = mail_env(sink, MAIL_LEASE_SECONDS="4")
        log = tmp_path / "gunicorn.log"
        server = LiveServer(url, workers=3, env=env, log_path=log).start()
        try:
            existing = register_users(server, sink, BURST // 2, "user")
            before = len(sink.received)
            acknowledged, results = burst(server, existing)
            at_kill = len(sink.received) - before
        finally:
            server.kill()  # kill -9 of the master and every worker, right after the burst
        assert len(acknowledged) == len(results), "every request of the burst was answered"

        expected = Counter(
            {
                (RESET_SUBJECT if kind == "forgot" else VERIFY_SUBJECT, email): 1
                for kind, email in acknowledged
            }
        )
        # Verification mails of the registered users were delivered before the burst.
        for email in existing:
            expected[(VERIFY_SUBJECT, email)] += 1

        def delivered():
            return Counter(
                (item.message["Subject"], item.rcpt_tos[0]) for item in list(sink.received)
            )

        restarted = LiveServer(url, workers=2, env=env, log_path=log).start()
        try:
            wait_until(lambda: all(delivered()[key] >= n for key, n in expected.items()), 90)
            time.sleep(5)  # past a lease: anything sent twice would have arrived by now
        finally:
            restarted.stop()

        got = delivered()
        missing = {key: n for key, n in expected.items() if got[key] < n}
        duplicates = sum(max(got[key] - n, 0) for key, n in expected.items())
        unexpected = sum(n for key, n in got.items() if key not in expected)
        figures = {
            "backend": backend,
            "acknowledged": len(acknowledged),
            "delivered_before_kill": at_kill,
            "delivered": sum(min(got[key], n) for key, n in expected.items()) - len(existing),
            "missing": len(missing),
            "duplicates": duplicates,
            "unexpected": unexpected,
        }
        write_figures(f"crash-{backend}", figures)
        assert not missing, figures
        assert unexpected == 0, figures
        # A crash may send a mail twice (claimed, sent, not yet marked): at most
        # the rows the killed senders held, one batch per worker.
        assert duplicates <= 3 * 20, figures


@pytest.mark.postgres
@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="needs TEST_DATABASE_URL")
def test_two_instances_on_one_postgresql_send_each_mail_once(tmp_path):
    with SmtpSink() as sink, postgres_database(os.environ["TEST_DATABASE_URL"], "mailtwo") as url:
        migrate(url)
        env = mail_env(sink, MAIL_BATCH_SIZE="5", MAIL_SEND_INTERVAL_SECONDS="0.05")
        first = LiveServer(url, workers=2, env=env, log_path=tmp_path / "a.log").start()
        second = LiveServer(url, workers=2, env=env, log_path=tmp_path / "b.log").start()
        try:
            emails = [f"user{n}@example.com" for n in range(BURST)]

            def register(pair):
                n, email = pair
                server = (first, second)[n % 2]
                body = {"email": email, "username": f"user{n}", "password": "a-long-passphrase"}
                return post(f"{server.url}/api/v1/auth/register", body)

            with ThreadPoolExecutor(CLIENTS) as pool:
                assert list(pool.map(register, enumerate(emails))) == [201] * BURST
            assert wait_until(lambda: sum(addresses(sink, VERIFY_SUBJECT).values()) >= BURST, 90)
            time.sleep(2)
        finally:
            first.stop()
            second.stop()
        got = addresses(sink, VERIFY_SUBJECT)
        figures = {
            "mails": BURST,
            "delivered": len(got),
            "duplicates": sum(got.values()) - len(got),
        }
        write_figures("two-instances-postgresql", figures)
        assert set(got) == set(emails) and max(got.values()) == 1, figures
