"""Races against a real multi-worker gunicorn, on SQLite and PostgreSQL:
one refresh token presented many times at once, and logout-all racing refreshes."""

import threading
import uuid

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.pool import NullPool

from authsvc.models import LoginSession, RefreshToken
from testing.databases import backend_params, throwaway_database
from testing.live_server import LiveServer, migrate
from testing.load.client import ApiClient
from tests.helpers import (
    LOGIN,
    LOGOUT_ALL,
    ME,
    PASSWORD,
    REFRESH,
    REGISTER,
    race_logins_with_a_password_change,
    unverified_claims,
)

pytestmark = pytest.mark.slow

RACERS = 24
WORKERS = 3
ROUNDS = 6
LOGINS = 8


@pytest.fixture(scope="module", params=backend_params())
def server(request, tmp_path_factory):
    directory = tmp_path_factory.mktemp("races")
    with throwaway_database(request.param, "races", directory) as url:
        migrate(url)
        log = directory / "gunicorn.log"
        with LiveServer(url, workers=WORKERS, log_path=log) as live:
            yield live
        assert "Traceback" not in log.read_text(errors="replace")


def register(server):
    name = f"r{uuid.uuid4().hex[:12]}"
    body = {"email": f"{name}@example.com", "username": name, "password": PASSWORD}
    reply = ApiClient(server.url).post(REGISTER, body)
    assert reply.status == 201, reply.body
    return name, reply.json()


def login(server, name):
    reply = ApiClient(server.url).post(LOGIN, {"username": name, "password": PASSWORD})
    assert reply.status == 200, reply.body
    return reply.json()


def assert_refused(server, pair):
    client = ApiClient(server.url)
    assert client.get(ME, token=pair["access_token"]).status == 401
    assert client.post(REFRESH, {"refresh_token": pair["refresh_token"]}).status == 401


def present_at_once(server, refresh_token, count):
    """POST /refresh with the same token from `count` threads released together."""
    barrier = threading.Barrier(count)
    replies = [None] * count

    def present(index):
        client = ApiClient(server.url)
        barrier.wait(timeout=30)
        replies[index] = client.post(REFRESH, {"refresh_token": refresh_token})

    threads = [threading.Thread(target=present, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return replies


@pytest.mark.parametrize("generation", [0, 1, 2])
def test_concurrent_refresh_of_one_token_rotates_once(server, generation):
    _name, pair = register(server)
    client = ApiClient(server.url)
    for _ in range(generation):  # also race a token that is itself a rotation's child
        reply = client.post(REFRESH, {"refresh_token": pair["refresh_token"]})
        assert reply.status == 200, reply.body
        pair = reply.json()
    sid = unverified_claims(pair["refresh_token"])["sid"]

    replies = present_at_once(server, pair["refresh_token"], RACERS)

    statuses = sorted(reply.status for reply in replies)
    assert statuses == [200] + [401] * (RACERS - 1), statuses
    (winner,) = [reply.json() for reply in replies if reply.status == 200]
    assert unverified_claims(winner["refresh_token"])["sid"] == sid
    details = {reply.json()["detail"] for reply in replies if reply.status == 401}
    assert details == {"Refresh token reuse detected; the session has been revoked"}
    # Exactly one new link in the chain, and the reuse rule ended the session,
    # taking the winner's fresh pair with it.
    engine = create_engine(server.database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            links = connection.execute(
                select(func.count()).where(RefreshToken.session_id == sid)
            ).scalar_one()
            revoked_at = connection.execute(
                select(LoginSession.revoked_at).where(LoginSession.id == sid)
            ).scalar_one()
    finally:
        engine.dispose()
    assert links == generation + 2
    assert revoked_at is not None
    assert_refused(server, winner)
    assert_refused(server, pair)


def test_logout_all_racing_refreshes_leaves_no_live_token(server):
    name, first = register(server)
    chains = [first] + [login(server, name) for _ in range(4)]
    issued = list(chains)  # every pair issued before and during the race
    issued_lock = threading.Lock()
    refreshes = threading.Semaphore(0)
    start = threading.Barrier(len(chains) + 1)
    logout_all = {}

    def refresh_chain(pair):
        client = ApiClient(server.url)
        start.wait(timeout=30)
        for _ in range(200):
            reply = client.post(REFRESH, {"refresh_token": pair["refresh_token"]})
            if reply.status != 200:
                assert reply.status == 401, reply.body
                return
            pair = reply.json()
            with issued_lock:
                issued.append(pair)
            refreshes.release()

    def end_all_sessions():
        client = ApiClient(server.url)
        start.wait(timeout=30)
        for _ in range(2 * len(chains)):  # let the chains get going first
            refreshes.acquire(timeout=30)
        logout_all["reply"] = client.post(LOGOUT_ALL, token=chains[0]["access_token"])

    threads = [threading.Thread(target=refresh_chain, args=(pair,)) for pair in chains]
    threads.append(threading.Thread(target=end_all_sessions))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)

    reply = logout_all["reply"]
    assert reply.status == 200, reply.body
    assert reply.json()["sessions_revoked"] == len(chains)
    assert len(issued) > 2 * len(chains)
    for pair in issued:
        assert_refused(server, pair)


def test_logins_racing_a_password_change_leave_no_live_session(server):
    """Logins with the current password released together with a change of it,
    round after round: a login that commits first is ended by the change, one
    that commits after is refused; none keeps a live session. The changer's own
    session stays (the control), and the new password logs in."""
    name, changer = register(server)
    password = PASSWORD
    won = 0
    for round_ in range(ROUNDS):
        new_password = f"{PASSWORD}-{round_}"
        changed, logins = race_logins_with_a_password_change(
            server.url, name, password, new_password, changer["access_token"], LOGINS
        )
        assert changed.status == 200, changed.body
        for reply in logins:
            assert reply.status in (200, 401), reply.body
            if reply.status == 200:
                won += 1
                assert_refused(server, reply.json())
        password = new_password
    assert ApiClient(server.url).get(ME, token=changer["access_token"]).status == 200
    login_pair = ApiClient(server.url).post(LOGIN, {"username": name, "password": password})
    assert login_pair.status == 200, login_pair.body
    assert won, "no login got in before a change: the race was not run"
