"""The example pages: served by the app in development, and nowhere else."""

import pytest

from authsvc.extensions import db
from tests.helpers import make_app


@pytest.fixture
def client_for(database_url):
    """A test client of an app built with `settings`; its engine is closed at teardown.

    (Not before its requests: a request opens a connection again, and one left
    to the garbage collector is a psycopg warning in whichever test runs then.)
    """
    apps = []

    def build(**settings):
        apps.append(make_app(database_url, **settings))
        return apps[-1].test_client()

    yield build
    for app in apps:
        with app.app_context():
            db.engine.dispose()


@pytest.mark.parametrize("filename", ["passkeys.html", "passkeys.js"])
def test_development_serves_the_passkey_page_under_a_strict_policy(client_for, filename):
    reply = client_for(APP_ENV="development").get(f"/examples/{filename}", buffered=True)
    assert reply.status_code == 200
    policy = reply.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert "unsafe-eval" not in policy and "script-src 'unsafe-inline'" not in policy
    if filename.endswith(".html"):
        assert b'<script src="passkeys.js"></script>' in reply.data


def test_other_environments_serve_no_example_page(client_for):
    """(Production builds its blueprints by the same rule as testing: not development.)"""
    reply = client_for(APP_ENV="testing").get("/examples/passkeys.html")
    assert reply.status_code == 404
    assert reply.mimetype == "application/problem+json"


def test_only_the_example_pages_are_served(client_for):
    client = client_for(APP_ENV="development")
    for path in ("/examples/../config.py", "/examples/%2e%2e%2fconfig.py", "/examples/x.html"):
        assert client.get(path).status_code == 404, path
