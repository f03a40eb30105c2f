"""The cluster workload's client: every request recorded, bound to one source address.

Used from the client namespace by the load (workload.py) and the checks after
it (afterload.py).
"""

import threading
import time
from collections import deque

from testing.load.client import CONNECTION_ERRORS, ApiClient

PASSWORD = "cluster-test-Passw0rd-long-enough"
PROBLEM_JSON = "application/problem+json"
TOKENS_KEPT = 200  # live and ended access tokens the resource-server users choose from


class Stop(Exception):
    """The cycle cannot go on (an error or a refusal); the next one starts afresh."""


class Recorder:
    """Every request of every thread, and the facts the checks need afterwards."""

    def __init__(self, addresses):
        self.addresses = addresses  # an iterator of fresh client addresses
        self.lock = threading.Lock()
        self.events = []  # [wall time, kind, status, ms, expected, problem_json(, kid)]
        self.registered, self.forgot, self.ended, self.live = [], [], [], []
        self.failures = []
        self.direct = {"refused": 0, "host unreachable": 0}
        self.oldest = []  # the first live access tokens, signed before any rotation
        self.newest = deque(maxlen=TOKENS_KEPT)  # the latest live access tokens
        self.ended_tokens = deque(maxlen=TOKENS_KEPT)  # access tokens of ended sessions

    def next_address(self):
        with self.lock:
            return next(self.addresses)

    def add(self, attribute, *items):
        with self.lock:
            getattr(self, attribute).extend(items)

    def keep_live_token(self, token):
        with self.lock:
            if len(self.oldest) < TOKENS_KEPT:
                self.oldest.append(token)
            self.newest.append(token)

    def fail(self, text):
        with self.lock:
            if len(self.failures) < 50:
                self.failures.append(text)


class Caller:
    """A client bound to one source address, recording each request."""

    def __init__(self, recorder, base_url, source):
        self.recorder = recorder
        self.client = ApiClient(base_url, user_agent="authsvc-cluster", source=source)
        self.source = source

    def __call__(self, kind, method, path, expected, body=None, token=None, note=None, **extra):
        """Send (`extra`: ApiClient.request's `form`, `basic`), record, and return the JSON
        reply (the status when `expected` is None); Stop when the status is not `expected`."""
        started = time.perf_counter()
        try:
            reply = self.client.request(method, path, body, token, **extra)
        except CONNECTION_ERRORS as exc:
            self.recorder.add("events", [time.time(), kind, 0, 0.0, expected, False, note])
            self.recorder.fail(f"{kind}: connection error: {exc!r}")
            raise Stop from exc
        ms = (time.perf_counter() - started) * 1000
        problem = reply.headers.get("Content-Type", "").startswith(PROBLEM_JSON)
        self.recorder.add("events", [time.time(), kind, reply.status, ms, expected, problem, note])
        if expected is not None and reply.status != expected:
            raise Stop(f"{kind} {reply.status} {reply.body[:200]!r}")
        return reply.json() if expected is not None else reply.status

    def close(self):
        self.client.close()


def account(name):
    return {"email": f"{name}@example.com", "username": name, "password": PASSWORD}
