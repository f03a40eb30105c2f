"""Key rotation on real gunicorn: several workers, and two instances on one database.

Each worker keeps its own keyring, so these tests measure what an operator
relies on: how long after `flask keys rotate` (or `revoke`) every worker signs
with (or refuses) the right key. sync workers take each new connection as it
comes, so a burst of requests over fresh connections reaches every worker.
"""

import os
import time
import uuid

import jwt as pyjwt
import pytest
import requests

from testing.databases import backend_params, throwaway_database
from testing.live_server import LiveServer, flask_command, migrate
from tests.helpers import PASSWORD

pytestmark = pytest.mark.slow

WORKERS = 3
REFRESH_SECONDS = 5  # KEYS_REFRESH_SECONDS for these servers (30 by default)
BURST = 30  # requests per probe: each of 3 workers misses all 30 with p < 1e-5
SECRET_KEY = "live-keys-secret-key-0123456789-abcdefghijkl"
SETTINGS = {"SECRET_KEY": SECRET_KEY, "KEYS_REFRESH_SECONDS": str(REFRESH_SECONDS)}


def flask(url, *args):
    return flask_command(url, *args, env={**SETTINGS, "APP_ENV": "testing"}, timeout=60)


def kid_of(token):
    return pyjwt.get_unverified_header(token)["kid"]


def register(base):
    name = f"k{uuid.uuid4().hex[:12]}"
    body = {"email": f"{name}@example.com", "username": name, "password": PASSWORD}
    reply = requests.post(f"{base}/api/v1/auth/register", json=body, timeout=10)
    assert reply.status_code == 201, reply.text
    return name, reply.json()


def login(base, name):
    reply = requests.post(
        f"{base}/api/v1/auth/login", json={"username": name, "password": PASSWORD}, timeout=10
    )
    assert reply.status_code == 200, reply.text
    return reply.json()


def me_statuses(base, access_token, count=BURST):
    """GET /users/me `count` times, each on a new connection (so every worker answers)."""
    headers = {"Authorization": f"Bearer {access_token}", "Connection": "close"}
    return [
        requests.get(f"{base}/api/v1/users/me", headers=headers, timeout=10).status_code
        for _ in range(count)
    ]


def wait_until(check, timeout):
    """Seconds until `check()` holds (polling), or fail after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.25)
    pytest.fail(f"not reached within {timeout} s")


@pytest.fixture(scope="module", params=backend_params())
def server(request, tmp_path_factory):
    directory = tmp_path_factory.mktemp("keys-live")
    with throwaway_database(request.param, "keys", directory) as url:
        migrate(url)
        log = directory / "gunicorn.log"
        with LiveServer(url, workers=WORKERS, env=SETTINGS, log_path=log) as live:
            yield live
        assert "Traceback" not in log.read_text(errors="replace")


def test_rotation_and_revocation_reach_every_worker(server, record_property):
    name, before = register(server.url)
    old_kid = kid_of(before["access_token"])
    assert set(me_statuses(server.url, before["access_token"])) == {200}

    flask(server.database_url, "keys", "rotate")
    rotated_at = time.monotonic()

    def every_worker_signs_with_the_new_key():
        return all(kid_of(login(server.url, name)["access_token"]) != old_kid for _ in range(12))

    reach = wait_until(every_worker_signs_with_the_new_key, 60)
    record_property("rotation_reach_seconds", round(time.monotonic() - rotated_at, 1))
    assert reach <= REFRESH_SECONDS + 3
    after = login(server.url, name)
    new_kid = kid_of(after["access_token"])
    # Tokens from before the rotation still work in every worker; so do the new ones.
    assert set(me_statuses(server.url, before["access_token"])) == {200}
    assert set(me_statuses(server.url, after["access_token"])) == {200}
    # A refresh token issued before the rotation still refreshes, into the new key.
    refreshed = requests.post(
        f"{server.url}/api/v1/auth/refresh",
        json={"refresh_token": before["refresh_token"]},
        timeout=10,
    )
    assert refreshed.status_code == 200, refreshed.text
    assert kid_of(refreshed.json()["access_token"]) == new_kid

    # The old key leaks: revoke it. Its tokens die in every worker; the new key's live on.
    old_token = before["access_token"]
    flask(server.database_url, "keys", "revoke", old_kid)
    revoked_at = time.monotonic()
    wait_until(lambda: set(me_statuses(server.url, old_token)) == {401}, 60)
    record_property("revocation_reach_seconds", round(time.monotonic() - revoked_at, 1))
    assert time.monotonic() - revoked_at <= REFRESH_SECONDS + 5
    assert set(me_statuses(server.url, refreshed.json()["access_token"])) == {200}


def test_a_flood_of_unknown_kids_costs_no_database_work(server):
    _name, pair = register(server.url)
    genuine = pair["access_token"]
    header = pyjwt.get_unverified_header(genuine)
    payload = genuine.split(".")[1]
    started = time.monotonic()
    statuses = set()
    for n in range(300):
        forged_header = pyjwt.utils.base64url_encode(
            f'{{"alg":"{header["alg"]}","kid":"{uuid.uuid4().hex}{n:011d}","typ":"at+jwt"}}'.encode()
        ).decode()
        token = f"{forged_header}.{payload}.{genuine.split('.')[2]}"
        statuses.add(
            requests.get(
                f"{server.url}/api/v1/users/me",
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            ).status_code
        )
    assert statuses == {401}
    assert time.monotonic() - started < 30
    assert set(me_statuses(server.url, genuine, 5)) == {200}  # control


@pytest.mark.postgres
@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="needs TEST_DATABASE_URL")
def test_two_instances_on_one_postgresql_share_keys_and_rotations(tmp_path):
    with throwaway_database("postgresql", "two", tmp_path) as url:
        migrate(url)
        # Both start on an empty key table at once: one first key between them.
        first = LiveServer(url, workers=2, env=SETTINGS, log_path=tmp_path / "a.log")
        second = LiveServer(url, workers=2, env=SETTINGS, log_path=tmp_path / "b.log")
        with first, second:
            name, from_a = register(first.url)
            from_b = login(second.url, name)
            assert kid_of(from_a["access_token"]) == kid_of(from_b["access_token"])
            assert set(me_statuses(second.url, from_a["access_token"], 10)) == {200}
            assert set(me_statuses(first.url, from_b["access_token"], 10)) == {200}
            old_kid = kid_of(from_a["access_token"])
            flask(url, "keys", "rotate")
            for base in (first.url, second.url):
                wait_until(
                    lambda base=base: all(
                        kid_of(login(base, name)["access_token"]) != old_kid for _ in range(8)
                    ),
                    60,
                )
            from_b_new = login(second.url, name)
            assert set(me_statuses(first.url, from_b_new["access_token"], 10)) == {200}
            flask(url, "keys", "revoke", old_kid)
            for base in (first.url, second.url):
                wait_until(
                    lambda base=base: set(me_statuses(base, from_a["access_token"], 10)) == {401},
                    60,
                )
            listing = flask(url, "keys", "list")
            assert listing.count(" current ") == 1 and listing.count(" next ") == 1
