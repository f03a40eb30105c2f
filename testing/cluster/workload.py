"""The client side of the cluster test, run inside the client namespace:

    ip netns exec NS python -m testing.cluster.workload SETTINGS.json RESULT.json

Virtual users go through the reverse proxy, each cycle from an address of its
own (so the per-address limits of one cycle never touch another's). Every
request is written down (time, kind, status, latency, problem+json or not);
the test process judges them against the fault timeline afterwards. After the
load, the same process checks what the service acknowledged and that the rate
limits count across hosts.
"""

import ipaddress
import itertools
import json
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import jwt as pyjwt

from testing.cluster.topology import client_address
from testing.load.client import (
    CONNECTION_ERRORS,
    LOGIN,
    LOGOUT,
    LOGOUT_ALL,
    ME,
    REFRESH,
    REGISTER,
    ApiClient,
)

SESSIONS = "/api/v1/auth/sessions"
PASSWORD = "cluster-test-Passw0rd-long-enough"
PROBLEM_JSON = "application/problem+json"
RETRY_PAUSE = 0.1  # seconds
DIRECT_CHECK_EVERY = 3  # cycles between checks that an ended session is refused on every host


class Stop(Exception):
    """The cycle cannot go on (an error or a refusal); the next one starts afresh."""


class Recorder:
    """Every request of every thread, and the facts the checks need afterwards."""

    def __init__(self, addresses):
        self.addresses = addresses  # an iterator of fresh client addresses
        self.lock = threading.Lock()
        self.events = []  # [wall time, kind, status, ms, expected, problem_json]
        self.registered, self.ended, self.live = [], [], []
        self.failures = []
        self.direct = {"refused": 0, "host unreachable": 0}

    def next_address(self):
        with self.lock:
            return next(self.addresses)

    def add(self, attribute, *items):
        with self.lock:
            getattr(self, attribute).extend(items)

    def fail(self, text):
        with self.lock:
            if len(self.failures) < 50:
                self.failures.append(text)


class Caller:
    """A JSON client bound to one source address, recording each request."""

    def __init__(self, recorder, base_url, source):
        self.recorder = recorder
        self.client = ApiClient(base_url, user_agent="authsvc-cluster")
        self.client.source = self.source = source

    def __call__(self, kind, method, path, expected, body=None, token=None):
        started = time.perf_counter()
        try:
            reply = request(self.client, method, path, body, token)
        except CONNECTION_ERRORS as exc:
            self.recorder.add("events", [time.time(), kind, 0, 0.0, expected, False])
            self.recorder.fail(f"{kind}: connection error through the proxy: {exc!r}")
            raise Stop from exc
        ms = (time.perf_counter() - started) * 1000
        problem = reply.headers.get("Content-Type", "").startswith(PROBLEM_JSON)
        self.recorder.add("events", [time.time(), kind, reply.status, ms, expected, problem])
        if expected is not None and reply.status != expected:
            raise Stop(f"{kind} {reply.status} {reply.body[:200]!r}")
        return reply.json() if expected is not None else reply.status

    def close(self):
        self.client.close()


def request(client, method, path, body, token):
    """ApiClient.request from `client.source` (a local address of the client namespace)."""
    import http.client

    if client.connection is None:
        client.connection = http.client.HTTPConnection(
            client.host, client.port, timeout=client.timeout, source_address=(client.source, 0)
        )
    return client.request(method, path, body, token)


def session_id(pair):
    return pyjwt.decode(pair["refresh_token"], options={"verify_signature": False})["sid"]


def cycle(recorder, settings, number):
    """One user's life through the proxy, from a fresh address."""
    source = recorder.next_address()
    call = Caller(recorder, settings["proxy"], source)
    try:
        name = f"c{uuid.uuid4().hex[:16]}"
        body = {"email": f"{name}@example.com", "username": name, "password": PASSWORD}
        first = call("register", "POST", REGISTER, 201, body)
        recorder.add("registered", name)
        call("me", "GET", ME, 200, token=first["access_token"])
        second = call("refresh", "POST", REFRESH, 200, {"refresh_token": first["refresh_token"]})
        call("logout", "POST", LOGOUT, 200, {"refresh_token": second["refresh_token"]})
        recorder.add("ended", session_id(second))
        login = {"username": name, "password": PASSWORD}
        other = call("login", "POST", LOGIN, 200, login)
        current = call("login", "POST", LOGIN, 200, login)
        call("refresh", "POST", REFRESH, 200, {"refresh_token": other["refresh_token"]})
        ended = call("logout-all", "POST", LOGOUT_ALL, 200, token=current["access_token"])
        recorder.add("ended", session_id(other), session_id(current))
        if ended["sessions_revoked"] != 2:
            recorder.fail(f"logout-all revoked {ended['sessions_revoked']} sessions, not 2")
        if number % DIRECT_CHECK_EVERY == 0:
            refused_everywhere(recorder, settings["hosts"], source, current["access_token"])
        kept = call("login", "POST", LOGIN, 200, login)
        listed = call("sessions", "GET", SESSIONS, 200, token=kept["access_token"])
        seen = [entry["ip"] for entry in listed if entry["current"]]
        if seen != [source]:
            recorder.fail(f"the service saw the client at {seen}, not {source}")
        recorder.add("live", kept)
    except Stop:
        time.sleep(RETRY_PAUSE)  # a client waits a moment before starting over
    finally:
        call.close()


def refused_everywhere(recorder, hosts, source, access_token):
    """Right after a logout-all through the proxy, each host on its own refuses its tokens."""
    for host in hosts:
        client = ApiClient(host)
        client.source = source
        try:
            status = request(client, "GET", ME, None, access_token).status
        except CONNECTION_ERRORS:
            with recorder.lock:
                recorder.direct["host unreachable"] += 1  # a host being killed or restarted
            continue
        finally:
            client.close()
        if status == 401:
            with recorder.lock:
                recorder.direct["refused"] += 1
        elif status != 503:  # 503: that host cannot reach the database right now
            recorder.fail(f"{host} answered {status} to a token ended a moment ago elsewhere")


def run_load(recorder, settings):
    deadline = time.monotonic() + settings["duration"]
    numbers = itertools.count()

    def user():
        while time.monotonic() < deadline:
            cycle(recorder, settings, next(numbers))

    threads = [threading.Thread(target=user, daemon=True) for _ in range(settings["clients"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=settings["duration"] + 60)


def check_acknowledged(recorder, settings):
    """Every acknowledged user logs in; sampled ended pairs stay refused, kept ones work."""
    figures = {"registrations checked": 0, "kept sessions checked": 0}

    def can_log_in(name):
        call = Caller(recorder, settings["proxy"], recorder.next_address())
        try:
            call("verify-login", "POST", LOGIN, 200, {"username": name, "password": PASSWORD})
        except Stop as exc:
            recorder.fail(f"acknowledged user {name} cannot log in: {exc}")
        finally:
            call.close()

    def still_works(pair):
        call = Caller(recorder, settings["proxy"], recorder.next_address())
        try:
            call("verify-me", "GET", ME, 200, token=pair["access_token"])
        except Stop as exc:
            recorder.fail(f"a kept session was refused: {exc}")
        finally:
            call.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(can_log_in, recorder.registered))
        list(pool.map(still_works, recorder.live[: settings["sample"]]))
    figures["registrations checked"] = len(recorder.registered)
    figures["kept sessions checked"] = min(len(recorder.live), settings["sample"])
    return figures


def check_limits(recorder, settings):
    """The login limit counts per address and per account across every host: LIMIT + 1
    logins from one address (each to its own account), then LIMIT + 1 logins to one
    account (each from its own address); the last of each must be 429."""
    limit = settings["login_limit"]

    def fresh_caller():
        return Caller(recorder, settings["proxy"], recorder.next_address())

    names = []
    for _ in range(limit + 2):  # one account per login from one address, and one more
        name = f"l{uuid.uuid4().hex[:16]}"
        body = {"email": f"{name}@example.com", "username": name, "password": PASSWORD}
        fresh_caller()("register", "POST", REGISTER, 201, body)
        names.append(name)
    one_address = fresh_caller()
    by_address = [
        one_address("limit-login", "POST", LOGIN, None, {"username": n, "password": PASSWORD})
        for n in names[:-1]
    ]
    one_address.close()
    login = {"username": names[-1], "password": PASSWORD}
    by_account = [fresh_caller()("limit-login", "POST", LOGIN, None, login) for _ in names[:-1]]
    return {"one address": by_address, "one account": by_account, "address": one_address.source}


def main(argv=None):
    settings_path, result_path = (argv or sys.argv[1:])[:2]
    with open(settings_path) as settings_file:
        settings = json.load(settings_file)
    network = ipaddress.ip_network(settings["client_network"])
    recorder = Recorder(client_address(network, index) for index in itertools.count())
    started = time.time()
    run_load(recorder, settings)
    load_seconds = time.time() - started
    figures = check_acknowledged(recorder, settings)
    limits = check_limits(recorder, settings)
    result = {
        "started": started,
        "load_seconds": load_seconds,
        "events": recorder.events,
        "registered": recorder.registered,
        "ended": recorder.ended,
        "live": len(recorder.live),
        "failures": recorder.failures,
        "direct": recorder.direct,
        "figures": figures,
        "limits": limits,
    }
    with open(result_path, "w") as result_file:
        json.dump(result, result_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
