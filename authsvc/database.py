"""Database set-up: engine options, SQLite as a real deployment, the lookup engine."""

from flask import current_app
from sqlalchemy import event
from sqlalchemy.engine import make_url

from .extensions import db
from .overrides import replace_session_teardown

CONNECT_TIMEOUT = 5  # seconds, for PostgreSQL URLs that name none
LOOKUP_ENGINE = "authsvc.lookup_engine"


def engine_options(database_url):
    """SQLAlchemy engine options for `database_url`."""
    url = make_url(database_url)
    options = {
        # A failed statement's message would otherwise quote its parameters
        # (password hashes among them) into the logs.
        "hide_parameters": True,
        # A pooled connection to a server is checked before use, so a
        # database restart or failover costs no request a 500. A SQLite
        # file cannot drop a connection: no ping, one query less per request.
        "pool_pre_ping": url.get_backend_name() != "sqlite",
    }
    if url.get_backend_name() == "postgresql" and "connect_timeout" not in url.query:
        # An unreachable host fails the request (503 from /health) after a few
        # seconds instead of psycopg's 130; `?connect_timeout=N` in the URL wins.
        options["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT}
    return options


def init_app(app):
    """Bind Flask-SQLAlchemy with authsvc's engine options, then tune the engine.

    `SQLALCHEMY_ENGINE_OPTIONS` given to `create_app` win over `engine_options`.
    """
    app.config.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS", engine_options(app.config["SQLALCHEMY_DATABASE_URI"])
    )
    db.init_app(app)
    replace_session_teardown(app, db)
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", sqlite_pragmas(engine))
        app.extensions[LOOKUP_ENGINE] = engine
    else:
        # On PostgreSQL, single-SELECT lookups (the revocation check) run
        # outside a transaction, sparing the BEGIN and ROLLBACK round trips (a
        # third of the check's time there). pysqlite opens no transaction for
        # a SELECT, and switching would cost more.
        app.extensions[LOOKUP_ENGINE] = engine.execution_options(isolation_level="AUTOCOMMIT")


def lookup_engine():
    """The engine for single-SELECT lookups outside the request's session."""
    return current_app.extensions[LOOKUP_ENGINE]


def sqlite_pragmas(engine):
    """A `connect` listener: WAL, a busy timeout, foreign keys enforced, Unicode lower()."""

    def set_sqlite_pragmas(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        # SQLite's own lower() folds ASCII only; searches (`q`) need Unicode.
        dbapi_connection.create_function("lower", 1, _lower, deterministic=True)
        cursor.execute("PRAGMA busy_timeout=10000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
            # FULL: an acknowledged logout or registration survives a power
            # loss too, not only a crash of the process (NORMAL's promise).
            cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    return set_sqlite_pragmas


def _lower(value):
    return value.lower() if isinstance(value, str) else value
