"""authsvc/database.py: engine options, SQLite settings, the lookup engine."""

import pytest
from sqlalchemy import text

from authsvc import database
from authsvc.extensions import db
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
