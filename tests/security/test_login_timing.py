"""Login timing must not tell who has an account.

Method: paired samples. Each pair is one login for an unknown name and one
with a wrong password for a real account, back to back in random order, so
drift hits both alike. Each login is timed in CPU time of the thread that
serves it in-process (the server's work, which is what an attacker's clock
sees on an idle server), so other processes on a shared machine add no noise.
The statistic is the median of the paired differences, with a bootstrap 95%
confidence interval. It is an equivalence test: the whole interval must sit
within a margin of +-25% of the median wrong-password time. Real bcrypt work
(cost 8) dominates a login; were the dummy verification missing, the
unknown-user login would be several times cheaper, far outside the margin; a
positive control checks that this detector does catch exactly that leak.
"""

import random
import statistics
import time

import pytest

from authsvc import passwords
from tests.helpers import LOGIN, assert_problem

pytestmark = pytest.mark.slow  # timing statistics: hundreds of bcrypt logins

ROUNDS = 8
PAIRS = 30
MARGIN = 0.25
BOOTSTRAP = 2000


@pytest.fixture
def app_settings():
    return {"BCRYPT_LOG_ROUNDS": ROUNDS}


@pytest.fixture
def real_user(make_user):
    return make_user("ada", email="ada@example.com")


def timed_login(client, username):
    # CPU time of this thread, which runs the whole request in-process: the work
    # the server does, without the noise of other processes on a shared machine.
    start = time.thread_time()
    response = client.post(LOGIN, json={"username": username, "password": "not-the-password"})
    elapsed = time.thread_time() - start
    assert_problem(response, 401)
    return elapsed


def paired_differences(client, pairs, rng):
    """(unknown - wrong password) per pair, and the wrong-password times."""
    differences, wrong_times = [], []
    for n in range(pairs):
        order = ["unknown", "known"]
        rng.shuffle(order)
        times = {}
        for kind in order:
            name = f"nobody{n}" if kind == "unknown" else "ada"
            times[kind] = timed_login(client, name)
        differences.append(times["unknown"] - times["known"])
        wrong_times.append(times["known"])
    return differences, wrong_times


def median_interval(values, rng):
    """Bootstrap 95% confidence interval of the median."""
    medians = sorted(
        statistics.median(rng.choices(values, k=len(values))) for _ in range(BOOTSTRAP)
    )
    return medians[int(0.025 * BOOTSTRAP)], medians[int(0.975 * BOOTSTRAP) - 1]


def warm_up(client):
    # Caches the dummy hash and warms the connection pool before measuring.
    for name in ("nobody", "ada"):
        timed_login(client, name)


def test_unknown_user_and_wrong_password_take_the_same_time(app, client, real_user, monkeypatch):
    rng = random.Random(1234)  # noqa: S311 - scheduling and resampling, not secrets
    warm_up(client)
    differences, wrong_times = paired_differences(client, PAIRS, rng)
    margin = MARGIN * statistics.median(wrong_times)
    low, high = median_interval(differences, rng)
    assert -margin < low and high < margin, (
        f"median difference CI [{low * 1000:.2f}, {high * 1000:.2f}] ms "
        f"exceeds +-{margin * 1000:.2f} ms"
    )

    # Positive control: without the dummy verification, the same detector fires.
    monkeypatch.setattr(passwords, "dummy_verify", lambda password: False)
    differences, _ = paired_differences(client, PAIRS // 2, rng)
    low, high = median_interval(differences, rng)
    assert high < -margin, "the detector failed to see an unknown user skip bcrypt"


def test_after_a_cost_raise_unknown_users_still_cost_what_known_ones_do(app, client, real_user):
    """Raising BCRYPT_LOG_ROUNDS leaves stored hashes at the old cost until their
    owners log in; the unknown-user path must cost what those accounts cost, not
    the new setting (which would make it four times slower here, cost 10 vs 8)."""
    app.config["BCRYPT_LOG_ROUNDS"] = ROUNDS + 2
    rng = random.Random(4321)  # noqa: S311 - scheduling and resampling, not secrets
    warm_up(client)
    differences, wrong_times = paired_differences(client, PAIRS, rng)
    margin = MARGIN * statistics.median(wrong_times)
    low, high = median_interval(differences, rng)
    assert -margin < low and high < margin, (
        f"median difference CI [{low * 1000:.2f}, {high * 1000:.2f}] ms "
        f"exceeds +-{margin * 1000:.2f} ms"
    )
