"""The mixed workload: virtual users that register, log in, call /me, refresh and
log out, recording what the server acknowledged so it can be checked afterwards."""

import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from .client import (
    CONNECTION_ERRORS,
    LOGIN,
    LOGOUT,
    LOGOUT_ALL,
    ME,
    REFRESH,
    REGISTER,
    ApiClient,
)

PASSWORD = "load-test-Passw0rd-long-enough"
MAX_ERROR_SAMPLES = 20


class Unexpected(Exception):
    """A reply the workload did not expect; the cycle starts over."""


@dataclass
class Ledger:
    """What the clients sent and what the server acknowledged, shared by all threads."""

    registered: list = field(default_factory=list)  # usernames that got a 201
    ended: list = field(default_factory=list)  # pairs whose session an acknowledged logout ended
    live: list = field(default_factory=list)  # pairs of acknowledged logins left untouched
    replies: Counter = field(default_factory=Counter)  # (path, status) -> count
    server_errors: int = 0
    unexpected: int = 0
    connection_errors: int = 0
    cut_by_crash: int = 0  # requests that died with the server when it was killed
    samples: list = field(default_factory=list)
    latencies: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def served(self):
        return sum(self.replies.values())

    @property
    def errors(self):
        return self.server_errors + self.unexpected + self.connection_errors

    def record(self, attribute, *items):
        with self.lock:
            getattr(self, attribute).extend(items)

    def note(self, kind, text):
        with self.lock:
            setattr(self, kind, getattr(self, kind) + 1)
            if len(self.samples) < MAX_ERROR_SAMPLES:
                self.samples.append(text)


class VirtualUser:
    """One client thread's loop of sessions; every step checks the expected status."""

    def __init__(self, base_url, ledger, crashing):
        self.client = ApiClient(base_url)
        self.ledger = ledger
        self.crashing = crashing
        self.latencies = []

    def call(self, method, path, expected, body=None, token=None):
        started = time.perf_counter()
        try:
            reply = self.client.request(method, path, body, token)
        except CONNECTION_ERRORS as exc:
            if self.crashing.is_set():
                with self.ledger.lock:
                    self.ledger.cut_by_crash += 1
                raise
            self.ledger.note("connection_errors", f"{method} {path}: {exc!r}")
            raise Unexpected from exc
        self.latencies.append(time.perf_counter() - started)
        with self.ledger.lock:
            self.ledger.replies[path, reply.status] += 1
        if reply.status != expected:
            kind = "server_errors" if reply.status >= 500 else "unexpected"
            self.ledger.note(kind, f"{method} {path}: {reply.status} {reply.body[:300]!r}")
            raise Unexpected
        return reply.json()

    def login(self, name):
        return self.call("POST", LOGIN, 200, {"username": name, "password": PASSWORD})

    def cycle(self):
        name = f"u{uuid.uuid4().hex[:16]}"
        body = {"email": f"{name}@example.com", "username": name, "password": PASSWORD}
        first = self.call("POST", REGISTER, 201, body)
        self.ledger.record("registered", name)
        self.call("GET", ME, 200, token=first["access_token"])
        second = self.call("POST", REFRESH, 200, {"refresh_token": first["refresh_token"]})
        self.call("GET", ME, 200, token=second["access_token"])
        self.call("POST", LOGOUT, 200, {"refresh_token": second["refresh_token"]})
        self.ledger.record("ended", first, second)

        other, current = self.login(name), self.login(name)
        rotated = self.call("POST", REFRESH, 200, {"refresh_token": other["refresh_token"]})
        self.call("GET", ME, 200, token=current["access_token"])
        ended = self.call("POST", LOGOUT_ALL, 200, token=current["access_token"])
        self.ledger.record("ended", other, rotated, current)
        if ended["sessions_revoked"] != 2:
            self.ledger.note("unexpected", f"logout-all revoked {ended['sessions_revoked']}")

        kept = self.login(name)
        self.call("GET", ME, 200, token=kept["access_token"])
        self.ledger.record("live", kept)

    def run(self, deadline, stop):
        try:
            while time.monotonic() < deadline and not stop.is_set():
                try:
                    self.cycle()
                except Unexpected:
                    time.sleep(0.05)
        except CONNECTION_ERRORS:
            pass  # the server was killed under us, as planned
        finally:
            self.client.close()
            self.ledger.record("latencies", *self.latencies)


def run_clients(base_url, *, clients, duration, ledger=None, stop=None, crashing=None):
    """Run `clients` virtual users for at most `duration` seconds; return the ledger."""
    ledger = ledger or Ledger()
    stop = stop or threading.Event()
    crashing = crashing or threading.Event()
    deadline = time.monotonic() + duration
    users = [VirtualUser(base_url, ledger, crashing) for _ in range(clients)]
    threads = [
        threading.Thread(target=user.run, args=(deadline, stop), name=f"vu-{i}", daemon=True)
        for i, user in enumerate(users)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=duration + 60)
    return ledger


def percentile(values, fraction):
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
