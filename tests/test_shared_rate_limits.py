"""Rate limits kept in Redis hold across gunicorn workers and hosts (TEST_REDIS_URL)."""

import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import pytest
import redis

from testing.live_server import LiveServer, migrate
from testing.load.client import ApiClient
from tests.helpers import LOGIN, PASSWORD, REGISTER

pytestmark = [pytest.mark.slow, pytest.mark.redis]


@pytest.fixture
def redis_db():
    """The test's own Redis database, empty before and after."""
    client = redis.Redis.from_url(os.environ["TEST_REDIS_URL"])
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def test_login_limit_is_shared_by_every_worker_of_every_host(redis_db, tmp_path):
    url = f"sqlite:///{tmp_path / 'limits.db'}"
    migrate(url)
    env = {
        "RATELIMIT_ENABLED": "true",
        "RATELIMIT_STORAGE_URI": os.environ["TEST_REDIS_URL"],
        "LOGIN_RATE_LIMIT": "5 per minute",
    }
    # Two gunicorn masters, two workers each: four processes that share nothing but
    # the database and Redis, as two hosts behind a load balancer would.
    hosts = [LiveServer(url, workers=2, env=env) for _ in range(2)]
    with ExitStack() as stack:
        for host in hosts:
            stack.callback(host.stop)
        with ThreadPoolExecutor(len(hosts)) as pool:
            list(pool.map(LiveServer.start, hosts))
        first, second = hosts
        body = {"email": "lim@example.com", "username": "lim", "password": PASSWORD}
        assert ApiClient(first.url).post(REGISTER, body).status == 201
        login = {"username": "lim", "password": PASSWORD}
        statuses = [
            ApiClient(host.url).post(LOGIN, login).status for host in [*hosts, *hosts, first]
        ]
        assert statuses == [200] * 5
        sixth = ApiClient(second.url).post(LOGIN, login)
        assert sixth.status == 429, sixth.body
        assert int(sixth.headers["Retry-After"]) > 0
    # The counters live in Redis, not in any one process.
    assert any(b"auth.login" in key for key in redis_db.scan_iter())
