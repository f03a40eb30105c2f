"""GET /health pings the database."""

import os
import time

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from authsvc.extensions import db
from testing.databases import postgres_database
from testing.tcp_proxy import TcpProxy
from tests.helpers import PASSWORD, make_app


def test_health_ok(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_health_503_when_database_fails(client, monkeypatch):
    def broken(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    with client.application.app_context():
        monkeypatch.setattr(db.session, "execute", broken)
        response = client.get("/health")
    assert response.status_code == 503
    assert response.get_json() == {"status": "error", "database": "unavailable"}


# --- a real database going away and coming back, without a restart ----------

DOWN = {"status": "error", "database": "unavailable"}
CONNECT_TIMEOUT = 2  # psycopg's smallest


def timed_health(client):
    started = time.monotonic()
    response = client.get("/health")
    return response, time.monotonic() - started


@pytest.fixture
def proxied_postgres():
    """A throwaway PostgreSQL database with the schema, reached through a TcpProxy."""
    with postgres_database(os.environ["TEST_DATABASE_URL"], "health") as url:
        engine = create_engine(url, poolclass=NullPool)
        db.metadata.create_all(engine)
        engine.dispose()
        target = make_url(url)
        proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432)
        proxy.up()
        proxied = target.set(host="127.0.0.1", port=proxy.port).update_query_dict(
            {"connect_timeout": str(CONNECT_TIMEOUT)}
        )
        app = make_app(proxied.render_as_string(hide_password=False))
        try:
            yield proxy, app
        finally:
            with app.app_context():
                db.engine.dispose()
            proxy.close()


@pytest.mark.postgres
@pytest.mark.parametrize("outage", ["refused", "silent"])
def test_health_follows_postgresql_going_away_and_back(proxied_postgres, outage):
    proxy, app = proxied_postgres
    client = app.test_client()
    assert client.get("/health").get_json() == {"status": "ok", "database": "ok"}

    if outage == "refused":
        proxy.down()
    else:
        proxy.silent()
    # The first check meets the pooled connection the outage cut, the second
    # has to connect anew. A refused connection fails at once; a host that
    # swallows packets costs the connect timeout, not psycopg's default of 130 s.
    for _attempt in range(2):
        response, seconds = timed_health(client)
        assert response.status_code == 503
        assert response.mimetype == "application/json"
        assert response.get_json() == DOWN
        assert seconds < (2.0 if outage == "refused" else CONNECT_TIMEOUT + 3.0)

    proxy.up()
    response = client.get("/health")
    assert (response.status_code, response.get_json()) == (200, {"status": "ok", "database": "ok"})


@pytest.mark.postgres
def test_requests_after_a_database_restart_succeed(proxied_postgres):
    """Connections pooled before the database restarted are checked before use."""
    proxy, app = proxied_postgres
    client = app.test_client()
    body = {"email": "kay@example.com", "username": "kay", "password": PASSWORD}
    token = client.post("/api/v1/auth/register", json=body).get_json()["access_token"]
    proxy.down()  # the server goes away, taking the pooled connection with it
    proxy.up()
    response = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_json()


def test_health_follows_sqlite_volume_coming_back(tmp_path):
    """A SQLite file on a volume that is not there yet: 503, then 200 once it is."""
    volume = tmp_path / "volume"
    app = make_app(f"sqlite:///{volume / 'authsvc.db'}")
    client = app.test_client()
    response, seconds = timed_health(client)
    assert (response.status_code, response.get_json()) == (503, DOWN)
    assert seconds < 1.0

    prepared = tmp_path / "prepared"
    prepared.mkdir()
    engine = create_engine(f"sqlite:///{prepared / 'authsvc.db'}", poolclass=NullPool)
    db.metadata.create_all(engine)
    engine.dispose()
    prepared.rename(volume)  # the volume is mounted
    response = client.get("/health")
    assert (response.status_code, response.get_json()) == (200, {"status": "ok", "database": "ok"})
    with app.app_context():
        db.engine.dispose()


def test_api_answers_503_problem_while_database_is_down(client, monkeypatch):
    def broken(*args, **kwargs):
        raise OperationalError("SELECT", {}, Exception("connection refused"))

    with client.application.app_context():
        monkeypatch.setattr(db.session, "execute", broken)
        response = client.post("/api/v1/auth/login", json={"username": "a", "password": "b"})
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.headers["Retry-After"] == "5"
    assert "connection refused" not in response.get_data(as_text=True)
