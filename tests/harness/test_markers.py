"""testing.markers: a test that does what a marker declares, without the marker, fails."""

import os
import re
import subprocess
import sys

import pytest
import redis
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from testing.live_server import BIN, ROOT, free_port
from testing.markers import WATCH

INNER = """
import os
import subprocess
import sys

import pytest
from sqlalchemy import create_engine

GUNICORN = {gunicorn!r}


def child(**env):
    subprocess.run([sys.executable, "-c", "pass"], env={{**os.environ, **env}}, check=True)


def test_starts_gunicorn_unmarked():
    subprocess.run([GUNICORN, "--version"], check=True, capture_output=True)


@pytest.mark.slow
def test_starts_gunicorn_marked():
    subprocess.run([GUNICORN, "--version"], check=True, capture_output=True)


def test_hands_postgresql_to_a_child_unmarked():
    child(DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/none")


@pytest.mark.postgres
def test_hands_postgresql_to_a_child_marked():
    child(DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/none")


def test_hands_redis_to_a_child_unmarked():
    child(RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0")


def test_hands_sqlite_to_a_child():
    child(DATABASE_URL="sqlite:///inner.db")


def test_connects_to_sqlite():
    create_engine("sqlite://").connect().close()


@pytest.mark.redis
def test_needs_redis():
    raise AssertionError("runs without TEST_REDIS_URL")
"""


@pytest.mark.slow  # its inner run starts gunicorn (`--version` only)
def test_unmarked_tests_fail_and_marked_ones_pass(tmp_path):
    (tmp_path / "test_inner.py").write_text(INNER.format(gunicorn=str(BIN / "gunicorn")))
    env = {
        **{name: value for name, value in os.environ.items() if name != "TEST_REDIS_URL"},
        "PYTHONPATH": str(ROOT),
        "TEST_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
    }
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "testing.markers", "-p", "no:cacheprovider"]
        + ["--strict-markers", "-rA", "-vv", "test_inner.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = completed.stdout + completed.stderr
    errors = dict(re.findall(r"^ERROR test_inner\.py::(\w+) - (.*)$", output, flags=re.M))
    assert set(errors) == {
        "test_starts_gunicorn_unmarked",
        "test_hands_postgresql_to_a_child_unmarked",
        "test_hands_redis_to_a_child_unmarked",
    }, output
    assert "not marked slow" in errors["test_starts_gunicorn_unmarked"]
    assert "not marked postgres" in errors["test_hands_postgresql_to_a_child_unmarked"]
    assert "not marked redis" in errors["test_hands_redis_to_a_child_unmarked"]
    passed = set(re.findall(r"^PASSED test_inner\.py::(\w+)$", output, flags=re.M))
    every = set(re.findall(r"^def (test_\w+)", INNER, flags=re.M))
    assert passed == every - {"test_needs_redis"}, output
    assert re.search(r"^SKIPPED .*needs TEST_REDIS_URL$", output, flags=re.M), output


@pytest.mark.postgres
def test_a_postgresql_connection_is_seen():
    engine = create_engine(os.environ["TEST_DATABASE_URL"], poolclass=NullPool)
    assert "postgres" not in WATCH.seen
    engine.connect().close()
    engine.dispose()
    assert "postgres" in WATCH.seen


@pytest.mark.redis
def test_a_redis_connection_is_seen():
    client = redis.Redis.from_url(os.environ["TEST_REDIS_URL"])
    assert "redis" not in WATCH.seen
    try:
        assert client.ping()
    finally:
        client.close()
    assert "redis" in WATCH.seen


def test_a_redis_that_does_not_answer_is_not_reached():
    client = redis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(redis.ConnectionError):
        client.ping()
    client.close()
    assert "redis" not in WATCH.seen
