"""Forgot-password must not tell who has an account: not by body, headers or timing.

Method (as the login timing test): rounds of three requests, for an active
account's address, an unknown one and a deactivated account's, in random order
within each round, so drift hits all alike. Each request is timed in CPU time
of the thread that serves it in-process (the server's work, without the noise
of other processes on a shared machine; the requests' I/O is the same single
INSERT and commit for every address, by construction). The statistic is the
median of the paired differences against the active account, with a bootstrap
95% confidence interval; the whole interval
must sit within +-25% of the active account's median time. A positive control
swaps in the classic leak (the mail sent from inside the request when the
account exists) and checks that the same detector sees it.
"""

import random
import statistics
import time

import pytest
from sqlalchemy import select

from authsvc import email_flows
from authsvc.extensions import db
from authsvc.mail import backends, outbox
from authsvc.mail.compose import compose
from authsvc.models import User

pytestmark = pytest.mark.slow  # timing statistics: hundreds of requests

FORGOT = "/api/v1/auth/password/forgot"
ROUNDS = 60
MARGIN = 0.25
BOOTSTRAP = 2000
KINDS = {
    "active": "ada@example.com",
    "unknown": "nobody@example.com",
    "deactivated": "bob@example.com",
}


@pytest.fixture
def app_settings(sink):
    return sink.settings()


@pytest.fixture
def accounts(make_user):
    make_user("ada", email=KINDS["active"])
    make_user("bob", email=KINDS["deactivated"], is_active=False)


def timed_forgot(client, email, reference):
    start = time.thread_time()
    response = client.post(FORGOT, json={"email": email})
    elapsed = time.thread_time() - start
    seen = (response.status_code, response.get_data(), sorted(response.headers.keys()))
    if reference:
        assert seen == reference[0], f"{email} answered differently"
    else:
        reference.append(seen)
    return elapsed


def measure(client, rounds, rng):
    times = {kind: [] for kind in KINDS}
    reference = []
    for _ in range(rounds):
        order = list(KINDS)
        rng.shuffle(order)
        for kind in order:
            times[kind].append(timed_forgot(client, KINDS[kind], reference))
    return times


def median_interval(values, rng):
    medians = sorted(
        statistics.median(rng.choices(values, k=len(values))) for _ in range(BOOTSTRAP)
    )
    return medians[int(0.025 * BOOTSTRAP)], medians[int(0.975 * BOOTSTRAP) - 1]


def intervals(times, rng):
    """{kind: (low, high)} of the median difference to the active account, per kind."""
    return {
        kind: median_interval([a - b for a, b in zip(times[kind], times["active"])], rng)
        for kind in ("unknown", "deactivated")
    }


def test_forgot_password_answers_the_same_for_every_address(
    app, client, accounts, monkeypatch, record_property
):
    rng = random.Random(4321)  # noqa: S311 - scheduling and resampling, not secrets
    measure(client, 5, rng)  # warm up
    times = measure(client, ROUNDS, rng)
    margin = MARGIN * statistics.median(times["active"])
    found = intervals(times, rng)
    record_property(
        "forgot_timing_ms",
        {k: (round(lo * 1000, 3), round(hi * 1000, 3)) for k, (lo, hi) in found.items()},
    )
    print(
        f"forgot-password timing: margin +-{margin * 1000:.3f} ms, intervals (ms):",
        {k: (round(lo * 1000, 3), round(hi * 1000, 3)) for k, (lo, hi) in found.items()},
    )
    for kind, (low, high) in found.items():
        assert -margin < low and high < margin, (
            f"{kind}: median difference CI [{low * 1000:.3f}, {high * 1000:.3f}] ms "
            f"exceeds +-{margin * 1000:.3f} ms"
        )

    # Positive control: the mail sent from inside the request when the account exists.
    def leaky_request(email):
        user = db.session.scalars(
            select(User).where(User.email == email, User.is_active.is_(True))
        ).first()
        if user is not None:
            row = outbox.enqueue("reset_password", email)
            db.session.flush()
            backend = backends.backend_from_config(app.config, app.instance_path)
            with backend.connection() as connection:
                connection.send(compose(row))
        db.session.commit()

    monkeypatch.setattr(email_flows, "request_password_reset", leaky_request)
    times = measure(client, ROUNDS // 2, rng)
    for kind, (_low, high) in intervals(times, rng).items():
        assert high < -margin, f"the detector missed the {kind} address skipping the send"
