"""After the load, from the client namespace: what the service acknowledged still holds
through the proxy, and the login limit counts across hosts."""

import uuid
from concurrent.futures import ThreadPoolExecutor

from testing.load.client import LOGIN, ME, REGISTER

from .calls import PASSWORD, Caller, Stop, account


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
        fresh_caller()("register", "POST", REGISTER, 201, account(name))
        recorder.add("registered", name)
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
