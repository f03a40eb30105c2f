"""Fixtures: an app per test on a clean database (SQLite, and PostgreSQL when
`TEST_DATABASE_URL` is set), its client and CLI runner, a user factory, an
SMTP sink.

Markers (`postgres`, `redis`, `slow`) are kept true by the testing.markers plugin.
"""

import os
import uuid

import pytest
from sqlalchemy import create_engine, text

from authsvc.extensions import db, limiter
from testing.databases import backend_params
from testing.smtp_sink import SmtpSink
from tests.helpers import CURRENT_APP, PASSWORD, START, AuthActions, MfaActions, make_app

# Markers; and the fixtures of the passkey tests (a user with a passkey on a
# software authenticator).
pytest_plugins = ["testing.markers", "tests.passkey_flows"]


@pytest.fixture(scope="session", params=backend_params())
def database_url(request, tmp_path_factory):
    """One schema per backend for the session; tests clean up after themselves."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'authsvc-test.db'}"
    else:
        url = os.environ["TEST_DATABASE_URL"]
    engine = create_engine(url)
    with engine.begin() as connection:
        db.metadata.drop_all(connection)
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.metadata.create_all(connection)
    engine.dispose()
    return url


def clean_database():
    tables = [table.name for table in reversed(db.metadata.sorted_tables)]
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    else:
        for table in tables:
            db.session.execute(text(f"DELETE FROM {table}"))
    db.session.commit()


@pytest.fixture
def app_settings():
    """Per-test config overrides; a test module may override this fixture."""
    return {}


@pytest.fixture
def app(database_url, app_settings):
    app = make_app(database_url, **app_settings)
    if app.config["RATELIMIT_ENABLED"]:
        with app.app_context():
            limiter.reset()
    CURRENT_APP["app"] = app  # whose keys forge() and claims_of() use
    yield app
    CURRENT_APP.clear()
    with app.app_context():
        db.session.remove()
        clean_database()
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make_user(app):
    """Create a user directly through the accounts use case; return its fields."""
    from authsvc.admin import create_user

    def factory(username=None, *, password=PASSWORD, email=None, **extra):
        username = username or f"user{uuid.uuid4().hex[:8]}"
        data = {
            "email": email or f"{username}@example.com",
            "username": username,
            "password": password,
            "full_name": extra.pop("full_name", None),
            **extra,
        }
        with app.app_context():
            user = create_user(data)
            return {
                "id": user.id,
                "username": user.username,
                "email": user.email,
                "password": password,
            }

    return factory


@pytest.fixture
def auth(client):
    return AuthActions(client)


@pytest.fixture
def user(make_user):
    return make_user("ada", email="ada@example.com", full_name="Ada Lovelace")


@pytest.fixture
def admin(make_user):
    return make_user("root", email="root@example.com", is_admin=True)


@pytest.fixture
def sink():
    """A real SMTP server on 127.0.0.1; `app_settings` can return `sink.settings(...)`."""
    with SmtpSink() as server:
        yield server


@pytest.fixture
def clock(time_machine):
    """Time stands still at START (tests move it with `clock.shift(seconds)`)."""
    time_machine.move_to(START, tick=False)
    return time_machine


@pytest.fixture
def mfa(client, clock):
    return MfaActions(client, clock)
