"""MFA races against a real multi-worker gunicorn, on SQLite and PostgreSQL:
one TOTP code, one recovery code, one mfa_token, each sent by many clients at once;
logins racing a password change.

The real clock runs here: the confirmation uses the code of the step before
now (one step of drift is accepted), so the raced code, of the current step,
is a later step and unused.
"""

import threading
import time
import uuid

import pyotp
import pytest

from testing.databases import backend_params, throwaway_database
from testing.live_server import LiveServer, migrate
from testing.load.client import ApiClient
from tests.helpers import LOGIN, PASSWORD, REGISTER, race_logins_with_a_password_change

pytestmark = pytest.mark.slow

RACERS = 20
ROUNDS = 5
LOGINS = 6
WORKERS = 3
MFA = "/api/v1/auth/mfa"


@pytest.fixture(scope="module", params=backend_params())
def server(request, tmp_path_factory):
    directory = tmp_path_factory.mktemp("mfa-races")
    with throwaway_database(request.param, "mfaraces", directory) as url:
        migrate(url)
        log = directory / "gunicorn.log"
        with LiveServer(url, workers=WORKERS, log_path=log) as live:
            yield live
        assert "Traceback" not in log.read_text(errors="replace")


def enabled_user(server, sessions=None):
    """Register, enrol and confirm; return (username, secret, recovery codes).

    The registration's access token (its session outlives the confirmation)
    is appended to `sessions` when given."""
    client = ApiClient(server.url)
    name = f"m{uuid.uuid4().hex[:12]}"
    body = {"email": f"{name}@example.com", "username": name, "password": PASSWORD}
    access = client.post(REGISTER, body).json()["access_token"]
    secret = client.post(f"{MFA}/totp", {"current_password": PASSWORD}, token=access).json()
    secret = secret["secret"]
    previous_step = pyotp.TOTP(secret).at(time.time() - 30)
    confirmed = client.post(f"{MFA}/totp/confirm", {"code": previous_step}, token=access)
    assert confirmed.status == 200, confirmed.body
    if sessions is not None:
        sessions.append(access)
    return name, secret, confirmed.json()["recovery_codes"]


def mfa_token(server, name):
    reply = ApiClient(server.url).post(LOGIN, {"username": name, "password": PASSWORD})
    assert reply.status == 403, reply.body
    return reply.json()["mfa_token"]


def at_once(server, bodies):
    """POST each body to /mfa/verify from its own thread, all released together."""
    barrier = threading.Barrier(len(bodies))
    statuses = [None] * len(bodies)

    def send(index):
        client = ApiClient(server.url)
        barrier.wait(timeout=30)
        statuses[index] = client.post(f"{MFA}/verify", bodies[index]).status

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return statuses


def test_one_totp_code_from_twenty_clients_logs_in_once(server):
    name, secret, _codes = enabled_user(server)
    tokens = [mfa_token(server, name) for _ in range(RACERS)]
    code = pyotp.TOTP(secret).now()
    statuses = at_once(server, [{"mfa_token": t, "code": code} for t in tokens])
    assert statuses.count(200) == 1 and statuses.count(401) == RACERS - 1, statuses


def test_one_recovery_code_from_twenty_clients_logs_in_once(server):
    name, _secret, codes = enabled_user(server)
    tokens = [mfa_token(server, name) for _ in range(RACERS)]
    statuses = at_once(server, [{"mfa_token": t, "code": codes[0]} for t in tokens])
    assert statuses.count(200) == 1 and statuses.count(401) == RACERS - 1, statuses
    # Control: another code of the set still works.
    later = ApiClient(server.url).post(
        f"{MFA}/verify", {"mfa_token": mfa_token(server, name), "code": codes[1]}
    )
    assert later.status == 200


def test_one_mfa_token_from_twenty_clients_makes_one_session(server):
    name, secret, codes = enabled_user(server)
    token = mfa_token(server, name)
    bodies = [{"mfa_token": token, "code": code} for code in codes]
    bodies += [{"mfa_token": token, "code": pyotp.TOTP(secret).now()}] * (RACERS - len(codes))
    statuses = at_once(server, bodies)
    assert statuses.count(200) == 1 and statuses.count(401) == RACERS - 1, statuses


def test_mfa_logins_racing_a_password_change_leave_no_live_mfa_token(server):
    """Password logins of an MFA user released together with a change of the
    password, round after round: no mfa_token they got finishes its login after
    the change (a login that commits after it gets 401 at once). The control: a
    login with the new password finishes with the same code."""
    access = []
    name, secret, _codes = enabled_user(server, access)
    password = PASSWORD
    tokens = []
    for round_ in range(ROUNDS):
        new_password = f"{PASSWORD}-{round_}"
        changed, logins = race_logins_with_a_password_change(
            server.url, name, password, new_password, access[0], LOGINS
        )
        assert changed.status == 200, changed.body
        for reply in logins:
            assert reply.status in (403, 401), reply.body
            if reply.status == 403:
                tokens.append(reply.json()["mfa_token"])
        password = new_password
    assert tokens, "no login got in before a change: the race was not run"
    code = pyotp.TOTP(secret).now()
    client = ApiClient(server.url)
    for token in tokens:
        reply = client.post(f"{MFA}/verify", {"mfa_token": token, "code": code})
        assert reply.status == 401, reply.body
    reply = client.post(LOGIN, {"username": name, "password": password})
    assert reply.status == 403, reply.body
    finished = client.post(f"{MFA}/verify", {"mfa_token": reply.json()["mfa_token"], "code": code})
    assert finished.status == 200, finished.body
