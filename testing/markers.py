"""A pytest plugin that keeps the suite's markers true (tests/conftest.py loads it).

- `postgres`: the test reaches PostgreSQL, in process or through a server or
  command it starts. Skipped when TEST_DATABASE_URL is not set.
- `redis`: the test reaches the Redis of TEST_REDIS_URL, in process or through a
  server it starts. Skipped when TEST_REDIS_URL is not set.
- `slow`: the test starts gunicorn, Chromium, wrk or the benchmark; also, by
  choice, a test that spends seconds by design (fuzzing, timing statistics,
  `flask db` in a subprocess), so that `make test-fast` stays under a minute.

The plugin watches what each test really does (the connections SQLAlchemy and
redis-py make, and every command started through subprocess.Popen) and fails at
teardown a test that does one of these without the marker, so that
`-m "not slow"` or `-m "not postgres"` selects exactly what it says. (Python's
audit hooks would see the same, but a hook runs on every `id()` call: it made
the suite a fifth slower.)
"""

import functools
import os
import subprocess
from pathlib import Path

import pytest
from redis.connection import AbstractConnection
from sqlalchemy import event
from sqlalchemy.engine import Engine

MARKERS = {
    "postgres": "reaches PostgreSQL (skipped without TEST_DATABASE_URL)",
    "redis": "reaches Redis (skipped without TEST_REDIS_URL)",
    "slow": "starts gunicorn, Chromium, wrk or the benchmark, or spends seconds by design",
}
NEEDS = {"postgres": "TEST_DATABASE_URL", "redis": "TEST_REDIS_URL"}
SLOW_PROGRAMS = ("gunicorn", "chromium", "chrome", "wrk")
SLOW_MODULES = ("bench", "testing.load", "testing.cluster", "testing.cluster.workload")
POSTGRES_SETTINGS = ("DATABASE_URL", "BENCH_DATABASE_URL")
REDIS_SETTINGS = ("RATELIMIT_STORAGE_URI",)


class Watch:
    """What the running test did that a marker must declare: marker -> first evidence."""

    def __init__(self):
        self.item = None
        self.seen = {}

    def saw(self, marker, evidence):
        if self.item is not None:
            self.seen.setdefault(marker, evidence)

    def redis_connected(self, connection):
        address = getattr(connection, "host", None), getattr(connection, "port", None)
        self.saw("redis", "connected to Redis at {}:{}".format(*address))

    def command(self, argv, env):
        argv = [str(part) for part in ([argv] if isinstance(argv, str | bytes) else argv)]
        program = Path(argv[0]).name if argv else ""
        modules = {argv[n + 1] for n, part in enumerate(argv[:-1]) if part == "-m"}
        if any(name in program for name in SLOW_PROGRAMS) or modules & set(SLOW_MODULES):
            self.saw("slow", f"started {' '.join(argv[:3])}")
        # Only the settings a test chose for its child, not those it inherits.
        chosen = {key: value for key, value in (env or {}).items() if os.environ.get(key) != value}
        for key in POSTGRES_SETTINGS:
            if str(chosen.get(key, "")).startswith("postgresql"):
                self.saw("postgres", f"started {program} with {key} on PostgreSQL")
        for key in REDIS_SETTINGS:
            if str(chosen.get(key, "")).startswith("redis"):
                self.saw("redis", f"started {program} with {key} on Redis")

    def engine_connect(self, connection):
        if connection.dialect.name == "postgresql":
            self.saw("postgres", f"connected to {connection.engine.url.database} on PostgreSQL")


WATCH = Watch()
PATCHES = []


def patch(owner, name, make_wrapper):
    original = getattr(owner, name)
    PATCHES.append((owner, name, original))
    setattr(owner, name, functools.wraps(original)(make_wrapper(original)))


def watch_popen(original):
    def __init__(self, args, *more, **options):
        WATCH.command(args, options.get("env"))
        original(self, args, *more, **options)

    return __init__


def watch_redis(original):
    def connect_check_health(self, *args, **kwargs):
        result = original(self, *args, **kwargs)  # only a connection that succeeded counts
        WATCH.redis_connected(self)
        return result

    return connect_check_health


def pytest_configure(config):
    for marker, meaning in MARKERS.items():
        config.addinivalue_line("markers", f"{marker}: {meaning}")
    patch(subprocess.Popen, "__init__", watch_popen)
    patch(AbstractConnection, "connect_check_health", watch_redis)
    event.listen(Engine, "engine_connect", WATCH.engine_connect)


def pytest_unconfigure(config):
    event.remove(Engine, "engine_connect", WATCH.engine_connect)
    while PATCHES:
        owner, name, original = PATCHES.pop()
        setattr(owner, name, original)


def pytest_collection_modifyitems(config, items):
    for item in items:
        for marker, variable in NEEDS.items():
            if item.get_closest_marker(marker) and not os.environ.get(variable):
                item.add_marker(pytest.mark.skip(reason=f"needs {variable}"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    WATCH.item, WATCH.seen = item, {}
    try:
        return (yield)
    finally:
        WATCH.item, WATCH.seen = None, {}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if call.when == "teardown" and WATCH.item is item:
        missing = {
            marker: evidence
            for marker, evidence in WATCH.seen.items()
            if item.get_closest_marker(marker) is None
        }
        if missing and report.passed:
            report.outcome = "failed"
            report.longrepr = "markers do not tell the truth: " + "; ".join(
                f"{evidence}, but the test is not marked {marker}"
                for marker, evidence in sorted(missing.items())
            )
    return report
