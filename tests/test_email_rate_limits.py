"""Rate limits of the mail endpoints: per client address and per target address for the
ones that send mail, per client address for the ones that spend a token; shared through
the limiter's storage (Redis, with TEST_REDIS_URL) by separate app instances."""

import os

import pytest
import redis

from authsvc.extensions import db
from tests.helpers import assert_problem, make_app

FORGOT = "/api/v1/auth/password/forgot"
RESET = "/api/v1/auth/password/reset"
VERIFY = "/api/v1/auth/email/verify"
REDIS_URL = os.environ.get("TEST_REDIS_URL")


@pytest.fixture
def app_settings():
    return {
        "RATELIMIT_ENABLED": True,
        "TRUSTED_PROXIES": 1,
        "EMAIL_SEND_RATE_LIMIT": "3 per hour",
        "EMAIL_TARGET_RATE_LIMIT": "2 per hour",
        "EMAIL_TOKEN_RATE_LIMIT": "3 per minute",
    }


def forgot(client, email, address):
    return client.post(FORGOT, json={"email": email}, headers={"X-Forwarded-For": address})


def assert_limited(response):
    assert_problem(response, 429)
    assert int(response.headers["Retry-After"]) > 0


def test_forgot_is_limited_per_target_address_whatever_the_client(client):
    for n in range(2):
        assert forgot(client, "ada@example.com", f"10.0.0.{n}").status_code == 202
    assert_limited(forgot(client, "ADA@example.com", "10.0.0.9"))
    # Control: another address from the same client is still served.
    assert forgot(client, "bob@example.com", "10.0.0.9").status_code == 202


def test_forgot_is_limited_per_client_address(client):
    for n in range(3):
        assert forgot(client, f"user{n}@example.com", "10.0.1.1").status_code == 202
    assert_limited(forgot(client, "another@example.com", "10.0.1.1"))
    assert forgot(client, "another@example.com", "10.0.1.2").status_code == 202


@pytest.mark.parametrize("path", [RESET, VERIFY])
def test_token_spending_is_limited_per_client_address(client, path):
    body = {"token": "not-a-real-token-0123456789"}
    if path == RESET:
        body["password"] = "a-brand-new-passphrase"
    headers = {"X-Forwarded-For": "10.0.2.1"}
    for _ in range(3):
        assert_problem(client.post(path, json=body, headers=headers), 400)
    assert_limited(client.post(path, json=body, headers=headers))
    assert_problem(client.post(path, json=body, headers={"X-Forwarded-For": "10.0.2.2"}), 400)


@pytest.fixture
def redis_store():
    store = redis.Redis.from_url(REDIS_URL)
    store.flushdb()
    yield store
    store.flushdb()
    store.close()


@pytest.mark.redis
@pytest.mark.skipif(not REDIS_URL, reason="needs TEST_REDIS_URL")
class TestSharedThroughRedis:
    @pytest.fixture
    def app_settings(self, app_settings, redis_store):
        return {**app_settings, "RATELIMIT_STORAGE_URI": REDIS_URL}

    def test_the_per_address_budget_is_shared_by_two_app_instances(
        self, app, database_url, app_settings
    ):
        # Two app instances that share nothing but the database and Redis.
        second = make_app(database_url, **app_settings)
        try:
            assert forgot(app.test_client(), "ada@example.com", "10.0.3.1").status_code == 202
            assert forgot(second.test_client(), "ada@example.com", "10.0.3.2").status_code == 202
            assert_limited(forgot(app.test_client(), "ada@example.com", "10.0.3.3"))
            assert_limited(forgot(second.test_client(), "ada@example.com", "10.0.3.4"))
        finally:
            with second.app_context():
                db.session.remove()
                db.engine.dispose()
