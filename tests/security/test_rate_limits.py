"""Rate limits on login (per address and per account), register, refresh and passkey
registration.

Limits trip into a 429 problem with Retry-After and recover when the window
passes; the window is moved by a fake clock on the in-memory storage, so no
test sleeps (but the Redis one, whose clock is the server's).
"""

import os
import time
import uuid

import limits.storage.memory
import pytest

from authsvc.extensions import db
from tests.helpers import LOGIN, ME, PASSWORD, REFRESH, REGISTER, assert_problem, make_app

WINDOW = 2
LIMITS = {
    "RATELIMIT_ENABLED": True,
    "LOGIN_RATE_LIMIT": f"3 per {WINDOW} second",
    "REGISTER_RATE_LIMIT": f"2 per {WINDOW} second",
    "REFRESH_RATE_LIMIT": f"2 per {WINDOW} second",
    "PASSKEY_REGISTER_RATE_LIMIT": f"2 per {WINDOW} second",
}


@pytest.fixture
def app_settings():
    return dict(LIMITS)


class FakeClock:
    """Stands in for the `time` module of the limiter's memory storage."""

    def __init__(self):
        self.offset = 0.0

    def time(self):
        return time.time() + self.offset

    def advance(self, seconds):
        self.offset += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(limits.storage.memory, "time", fake)
    return fake


def login(client, username="ada", password="wrong-password-1", forwarded_for=None, **kwargs):
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return client.post(
        LOGIN, json={"username": username, "password": password}, headers=headers, **kwargs
    )


def assert_throttled(response):
    body = assert_problem(response, 429)
    assert "too many" in body["detail"].lower()
    assert 0 < int(response.headers["Retry-After"]) <= WINDOW
    return body


def test_login_per_address_trips_and_recovers(client, clock, user):
    # A different account each time: only the per-address limit can trip.
    for name in ("alice", "bob", "carol"):
        assert login(client, name).status_code == 401
    assert_throttled(login(client, "dave"))
    assert_throttled(login(client, "ada", PASSWORD))  # even the right password waits
    clock.advance(WINDOW)
    assert login(client, "ada", PASSWORD).status_code == 200


def test_login_per_account_trips_across_addresses(client, clock, user, app_settings):
    """Spreading guesses over addresses (or proxies) does not help against one account."""
    addresses = [f"203.0.113.{n}" for n in range(1, 6)]
    for address in addresses[:3]:
        response = login(client, environ_base={"REMOTE_ADDR": address})
        assert response.status_code == 401
    assert_throttled(login(client, environ_base={"REMOTE_ADDR": addresses[3]}))
    # The victim's lockout is temporary.
    clock.advance(WINDOW)
    response = login(client, "ada", PASSWORD, environ_base={"REMOTE_ADDR": addresses[4]})
    assert response.status_code == 200


def test_username_and_email_of_one_account_share_its_budget(client, clock, user):
    for name in ("ada", "ADA@example.com", " Ada "):
        response = login(client, name, environ_base={"REMOTE_ADDR": f"198.51.100.{len(name)}"})
        assert response.status_code == 401
    assert_throttled(login(client, "ada@example.com", environ_base={"REMOTE_ADDR": "192.0.2.9"}))


def test_unknown_login_names_are_limited_like_accounts(client, clock):
    for n in range(3):
        assert (
            login(client, "ghost", environ_base={"REMOTE_ADDR": f"192.0.2.{n}"}).status_code == 401
        )
    assert_throttled(login(client, "GHOST", environ_base={"REMOTE_ADDR": "192.0.2.200"}))


class TestBehindOneTrustedProxy:
    @pytest.fixture
    def app_settings(self):
        return {**LIMITS, "TRUSTED_PROXIES": 1}

    def test_forwarded_addresses_are_distinct_clients(self, client, clock):
        for n in range(5):
            name, address = f"user{n}", f"203.0.113.{n}"
            assert login(client, name, forwarded_for=address).status_code == 401

    def test_per_account_limit_still_trips(self, client, clock, user):
        for n in range(3):
            assert login(client, forwarded_for=f"203.0.113.{n}").status_code == 401
        assert_throttled(login(client, forwarded_for="203.0.113.99"))

    def test_the_session_records_the_forwarded_address(self, client, clock, user, auth):
        pair = login(client, "ada", PASSWORD, forwarded_for="203.0.113.7").get_json()
        sessions = client.get("/api/v1/auth/sessions", headers=auth.bearer(pair["access_token"]))
        assert sessions.get_json()[0]["ip"] == "203.0.113.7"


def test_spoofed_forwarded_for_is_ignored_without_trusted_proxies(client, clock, auth, user):
    for n in range(3):
        assert login(client, f"user{n}", forwarded_for=f"203.0.113.{n}").status_code == 401
    assert_throttled(login(client, "user9", forwarded_for="203.0.113.99"))
    clock.advance(WINDOW)
    pair = login(client, "ada", PASSWORD, forwarded_for="203.0.113.7").get_json()
    sessions = client.get("/api/v1/auth/sessions", headers=auth.bearer(pair["access_token"]))
    assert sessions.get_json()[0]["ip"] == "127.0.0.1"


def test_register_limit_trips_and_recovers(client, clock):
    def register(name):
        body = {"email": f"{name}@example.com", "username": name, "password": PASSWORD}
        return client.post(REGISTER, json=body)

    assert [register(name).status_code for name in ("ann", "ben")] == [201, 201]
    assert_throttled(register("cat"))
    clock.advance(WINDOW)
    assert register("cat").status_code == 201


def test_refresh_limit_trips_and_recovers(client, clock, auth, user):
    token = auth.login("ada")["refresh_token"]
    for _ in range(2):
        response = client.post(REFRESH, json={"refresh_token": token})
        assert response.status_code == 200
        token = response.get_json()["refresh_token"]
    assert_throttled(client.post(REFRESH, json={"refresh_token": token}))
    clock.advance(WINDOW)
    assert client.post(REFRESH, json={"refresh_token": token}).status_code == 200


def test_limits_leave_other_endpoints_alone(client, clock, auth, user):
    headers = auth.headers_for(user)
    for _ in range(10):
        assert client.get("/api/v1/users/me", headers=headers).status_code == 200


PASSKEYS = "/api/v1/auth/passkeys"
# What each registration endpoint answers within its budget: options, and a
# credential that is no credential (each request counts, whatever its outcome).
PASSKEY_REGISTRATION = {"register/options": ({}, 200), "register": ({"credential": {}}, 400)}


def passkey_registration(client, path, headers, address):
    body, _ = PASSKEY_REGISTRATION[path]
    return client.post(
        f"{PASSKEYS}/{path}", json=body, headers=headers, environ_base={"REMOTE_ADDR": address}
    )


def logged_in(client, auth, account, address):
    pair = login(client, account["username"], PASSWORD, environ_base={"REMOTE_ADDR": address})
    return auth.bearer(pair.get_json()["access_token"])


@pytest.mark.parametrize("path", PASSKEY_REGISTRATION)
def test_passkey_registration_is_limited_per_account(client, clock, auth, make_user, path):
    """One stolen access token from many addresses: the account's budget runs out."""
    _, within = PASSKEY_REGISTRATION[path]
    headers = logged_in(client, auth, make_user("victim"), "203.0.113.1")
    for n in range(2):
        assert passkey_registration(client, path, headers, f"192.0.2.{n}").status_code == within
    assert_throttled(passkey_registration(client, path, headers, "192.0.2.9"))
    # Positive controls: another account is not held up, and the window passes.
    other = logged_in(client, auth, make_user("bystander"), "203.0.113.2")
    assert passkey_registration(client, path, other, "198.51.100.7").status_code == within
    clock.advance(WINDOW)
    assert passkey_registration(client, path, headers, "192.0.2.10").status_code == within


@pytest.mark.parametrize("path", PASSKEY_REGISTRATION)
def test_passkey_registration_is_limited_per_address(client, clock, auth, make_user, path):
    """Many stolen access tokens, one address: the address's budget runs out."""
    _, within = PASSKEY_REGISTRATION[path]
    headers = [logged_in(client, auth, make_user(f"victim{n}"), f"203.0.113.{n}") for n in range(3)]
    for n in range(2):
        assert passkey_registration(client, path, headers[n], "192.0.2.50").status_code == within
    assert_throttled(passkey_registration(client, path, headers[2], "192.0.2.50"))
    # Positive control: the same account from another address is not held up.
    assert passkey_registration(client, path, headers[2], "198.51.100.8").status_code == within


def test_passkey_registration_options_and_answers_have_budgets_apart(client, clock, auth, user):
    headers = logged_in(client, auth, user, "203.0.113.1")
    for _ in range(2):
        assert (
            passkey_registration(client, "register/options", headers, "192.0.2.1").status_code
            == 200
        )
    assert_throttled(passkey_registration(client, "register/options", headers, "192.0.2.1"))
    assert passkey_registration(client, "register", headers, "192.0.2.1").status_code == 400


@pytest.mark.redis
def test_redis_storage_shares_limits_between_workers(database_url, user):
    """Two app instances (two gunicorn workers) count against one Redis budget."""
    settings = {
        **LIMITS,
        "LOGIN_RATE_LIMIT": "3 per 1 second",
        "RATELIMIT_STORAGE_URI": os.environ["TEST_REDIS_URL"],
        "RATELIMIT_KEY_PREFIX": f"authsvc-test-{uuid.uuid4().hex}",
    }
    apps = [make_app(database_url, **settings) for _ in range(2)]
    workers = [app.test_client() for app in apps]
    try:
        # The window starts at the first hit, so the four land in one window.
        statuses = [login(workers[n % 2], f"user{n}").status_code for n in range(4)]
        assert statuses == [401, 401, 401, 429]
        assert_throttled(login(workers[0], "ada", PASSWORD))
        time.sleep(1.1)
        assert login(workers[1], "ada", PASSWORD).status_code == 200
    finally:
        for app in apps:
            with app.app_context():
                db.engine.dispose()


def test_unreachable_limiter_storage_falls_back_to_memory(database_url, user):
    """Redis down: logins still answer (no 500), and the limit still holds per worker."""
    from testing.live_server import free_port

    settings = {
        **LIMITS,
        "LOGIN_RATE_LIMIT": "3 per 1 minute",
        "RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:{free_port()}/0",
    }
    app = make_app(database_url, **settings)
    worker = app.test_client()
    try:
        assert login(worker, "ada", PASSWORD).status_code == 200
        statuses = [login(worker, "ada", "wrong-password-1").status_code for _ in range(3)]
        assert statuses[:2] == [401, 401]
        assert statuses[2] == 429
    finally:
        with app.app_context():
            db.engine.dispose()


def test_retry_after_only_on_the_429(client, clock, user):
    """Retry-After means "wait before retrying": only a 429 says that; the
    X-RateLimit-* headers may report the budget on every answer."""
    weak = {"email": "nope", "username": "ann", "password": "short"}
    invalid = client.post(REGISTER, json=weak)
    assert_problem(invalid, 422)
    assert "X-RateLimit-Limit" in invalid.headers  # the limiter did see this request
    assert "Retry-After" not in invalid.headers
    body = {"email": "ann@example.com", "username": "ann", "password": PASSWORD}
    assert "Retry-After" not in client.post(REGISTER, json=body).headers
    for response in (login(client), login(client, "ada", PASSWORD)):
        assert response.status_code in (200, 401)
        assert "Retry-After" not in response.headers
    assert_throttled(client.post(REGISTER, json=body))  # positive control: the 429 has it


def change_email(client, headers, current_password, **kwargs):
    body = {"email": "ada.new@example.com", "current_password": current_password}
    return client.patch(ME, json=body, headers=headers, **kwargs)


def test_wrong_current_password_is_limited_per_account(client, clock, auth, user):
    """A stolen access token is no password oracle: guesses at current_password
    count against the account whatever address they come from."""
    headers = auth.headers_for(user)
    for n in range(3):
        guess = change_email(
            client, headers, f"guess-{n}", environ_base={"REMOTE_ADDR": f"192.0.2.{n}"}
        )
        assert_problem(guess, 400)
    assert_throttled(
        change_email(client, headers, PASSWORD, environ_base={"REMOTE_ADDR": "192.0.2.9"})
    )
    # Changes that need no password are not held up.
    assert client.patch(ME, json={"full_name": "Ada"}, headers=headers).status_code == 200
    clock.advance(WINDOW)
    assert change_email(client, headers, PASSWORD).status_code == 200


def test_current_password_guesses_are_limited_per_address(client, clock, auth, make_user):
    """Many stolen tokens, one address: the address's budget runs out."""
    headers = []
    for n in range(4):  # logged in from four addresses: the login limit stays out of it
        account = make_user(f"victim{n}")
        pair = login(
            client, account["username"], PASSWORD, environ_base={"REMOTE_ADDR": f"203.0.113.{n}"}
        )
        headers.append(auth.bearer(pair.get_json()["access_token"]))
    for n in range(3):
        assert_problem(change_email(client, headers[n], "guess-guess"), 400)
    assert_throttled(change_email(client, headers[3], "guess-guess"))
    # Positive control: another address is not held up by this one.
    other = change_email(client, headers[3], PASSWORD, environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert other.status_code == 200


@pytest.mark.redis
@pytest.mark.skipif(not os.environ.get("TEST_REDIS_URL"), reason="needs TEST_REDIS_URL")
def test_current_password_limit_is_shared_between_workers(database_url, user):
    settings = {
        **LIMITS,
        "LOGIN_RATE_LIMIT": "3 per 1 minute",
        "RATELIMIT_STORAGE_URI": os.environ["TEST_REDIS_URL"],
        "RATELIMIT_KEY_PREFIX": f"authsvc-test-{uuid.uuid4().hex}",
    }
    apps = [make_app(database_url, **settings) for _ in range(2)]
    workers = [app.test_client() for app in apps]
    try:
        pair = login(workers[0], "ada", PASSWORD).get_json()
        headers = {"Authorization": f"Bearer {pair['access_token']}"}
        statuses = [
            change_email(
                workers[n % 2], headers, "guess-guess", environ_base={"REMOTE_ADDR": f"192.0.2.{n}"}
            ).status_code
            for n in range(4)
        ]
        assert statuses == [400, 400, 400, 429]
    finally:
        for app in apps:
            with app.app_context():
                db.engine.dispose()
