"""The client side of the cluster test, run inside the client namespace:

    ip netns exec NS python -m testing.cluster.workload SETTINGS.json RESULT.json

Virtual users go through the reverse proxy, each cycle from an address of its
own (so the per-address limits of one cycle never touch another's); beside
them, resource-server users present live and ended access tokens to the
example resource server, which checks them with the key set and by
introspection. Every request is written down (time, kind, status, latency,
problem+json or not, and the signing key for a resource-server call); the test
process judges them against the fault timeline afterwards. The load runs until
the test process creates the stop file. Then the same process checks what the
service acknowledged and that the rate limits count across hosts (afterload.py).
"""

import ipaddress
import itertools
import json
import os
import random
import sys
import threading
import time
import uuid

import jwt as pyjwt

from testing.cluster.afterload import check_acknowledged, check_limits
from testing.cluster.calls import PASSWORD, Caller, Recorder, Stop, account
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
FORGOT = "/api/v1/auth/password/forgot"
INTROSPECT = "/oauth/introspect"
RETRY_PAUSE = 0.1  # seconds
DIRECT_CHECK_EVERY = 3  # cycles between checks that an ended session is refused on every host
RESOURCE_USERS = 2  # threads calling the resource server
RECENT = 20  # "the newest" live tokens: minted in the last second or so


def session_id(pair):
    return pyjwt.decode(pair["refresh_token"], options={"verify_signature": False})["sid"]


def kid(token):
    return pyjwt.get_unverified_header(token).get("kid")


def cycle(recorder, settings, number):
    """One user's life through the proxy, from a fresh address."""
    source = recorder.next_address()
    call = Caller(recorder, settings["proxy"], source)
    client = tuple(settings["introspection_client"])
    try:
        name = f"c{uuid.uuid4().hex[:16]}"
        email = f"{name}@example.com"
        first = call("register", "POST", REGISTER, 201, account(name))
        recorder.add("registered", name)
        call("forgot", "POST", FORGOT, 202, {"email": email})
        recorder.add("forgot", email)
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
        recorder.add("ended_tokens", current["access_token"])
        if ended["sessions_revoked"] != 2:
            recorder.fail(f"logout-all revoked {ended['sessions_revoked']} sessions, not 2")
        dead = call(
            "introspect",
            "POST",
            INTROSPECT,
            200,
            form={"token": current["access_token"]},
            basic=client,
        )
        if dead != {"active": False}:
            recorder.fail(f"introspection of a token ended by logout-all: {dead}")
        if number % DIRECT_CHECK_EVERY == 0:
            refused_everywhere(recorder, settings["hosts"], source, current["access_token"])
        kept = call("login", "POST", LOGIN, 200, login)
        listed = call("sessions", "GET", SESSIONS, 200, token=kept["access_token"])
        seen = [entry["ip"] for entry in listed if entry["current"]]
        if seen != [source]:
            recorder.fail(f"the service saw the client at {seen}, not {source}")
        live = call(
            "introspect",
            "POST",
            INTROSPECT,
            200,
            form={"token": kept["access_token"]},
            basic=client,
        )
        if not live.get("active") or live.get("username") != name:
            recorder.fail(f"introspection of a live token: {live}")
        recorder.add("live", kept)
        recorder.keep_live_token(kept["access_token"])
    except Stop:
        time.sleep(RETRY_PAUSE)  # a client waits a moment before starting over
    finally:
        call.close()


def refused_everywhere(recorder, hosts, source, access_token):
    """Right after a logout-all through the proxy, each host on its own refuses its tokens."""
    for host in hosts:
        client = ApiClient(host, source=source)
        try:
            status = client.request("GET", ME, None, access_token).status
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


def resource_user(recorder, settings, stopping, number):
    """Present live tokens (the oldest and the newest, so both sides of a key rotation) and
    ended ones to the resource server: offline (key set) and by introspection."""
    call = Caller(recorder, settings["resource"], recorder.next_address())
    rng = random.Random(number)
    for turn in itertools.count():
        if stopping():
            break
        with recorder.lock:
            pool = recorder.oldest if turn % 2 else list(recorder.newest)[-RECENT:]
            token = rng.choice(pool) if pool else None
            ended = rng.choice(recorder.ended_tokens) if recorder.ended_tokens else None
        if token is None or ended is None:
            time.sleep(0.2)
            continue
        try:
            call("rs-offline", "GET", "/orders", 200, token=token, note=kid(token))
            call("rs-introspect", "GET", "/payments", 200, token=token, note=kid(token))
            call("rs-ended", "GET", "/payments", 401, token=ended, note=kid(ended))
        except Stop:
            time.sleep(RETRY_PAUSE)
    call.close()


def run_load(recorder, settings):
    """Users and resource-server users until the stop file appears (or the hard limit)."""
    deadline = time.monotonic() + settings["max_seconds"]
    numbers = itertools.count()

    def stopping():
        return time.monotonic() > deadline or os.path.exists(settings["stop_file"])

    def user():
        while not stopping():
            cycle(recorder, settings, next(numbers))

    threads = [threading.Thread(target=user, daemon=True) for _ in range(settings["clients"])]
    threads += [
        threading.Thread(target=resource_user, args=(recorder, settings, stopping, n), daemon=True)
        for n in range(RESOURCE_USERS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(1.0, deadline - time.monotonic()) + 60)


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
        "forgot": recorder.forgot,
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
