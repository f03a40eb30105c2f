"""authsvc/database.py: engine options, SQLite settings, the lookup engine."""

import os

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from authsvc import database
from authsvc.extensions import db
from testing.tcp_proxy import TcpProxy
from tests.helpers import make_app


@pytest.mark.parametrize(
    ("url", "pre_ping", "connect_args"),
    [
        ("sqlite:///x.db", False, None),
        ("postgresql+psycopg://u@h/x", True, {"connect_timeout": database.CONNECT_TIMEOUT}),
        ("postgresql+psycopg://u@h/x?connect_timeout=9", True, None),
    ],
)
def test_engine_options_per_backend(url, pre_ping, connect_args):
    options = database.engine_options(url)
    assert options["hide_parameters"] is True
    assert options["pool_pre_ping"] is pre_ping
    assert options.get("connect_args") == connect_args


def test_engine_options_given_to_create_app_win(database_url):
    app = make_app(database_url, SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True})
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"] == {"pool_pre_ping": True}
    with app.app_context():
        db.engine.dispose()


def test_the_lookup_engine_reads_outside_a_transaction_on_postgresql(app):
    with app.app_context():
        engine = database.lookup_engine()
        with engine.connect() as connection:
            assert connection.execute(text("SELECT 1")).scalar() == 1
            driver_autocommit = getattr(connection.connection.driver_connection, "autocommit", None)
        if db.engine.dialect.name == "postgresql":
            assert engine is not db.engine
            assert driver_autocommit is True  # psycopg sends no BEGIN
        else:
            # pysqlite opens no transaction for a SELECT: the app's own engine serves.
            assert engine is db.engine


@pytest.mark.postgres
@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="needs TEST_DATABASE_URL")
def test_a_connection_the_database_drops_after_the_view_does_not_turn_its_answer_into_500():
    # Flask-SQLAlchemy rolls the request's session back after the response is made;
    # on a connection the server has just dropped that ROLLBACK raised, and gunicorn
    # answered a bare 500 in place of the view's own answer (seen under load).
    url = make_url(os.environ["TEST_DATABASE_URL"])
    proxy = TcpProxy(url.host, url.port or 5432)
    proxy.up()
    try:
        app = make_app(
            url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        )

        @app.get("/probe")
        def probe():
            db.session.execute(text("SELECT 1"))
            proxy.up()  # every connection reset (the database went away), then back
            return {"status": "done"}

        client = app.test_client()
        response = client.get("/probe")
        assert (response.status_code, response.get_json()) == (200, {"status": "done"})
        # The worker goes on with a fresh connection (the dropped one was discarded).
        assert client.get("/health").status_code == 200
        with app.app_context():
            db.engine.dispose()
    finally:
        proxy.close()
