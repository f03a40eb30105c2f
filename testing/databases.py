"""Throwaway databases for tests that need a schema of their own (migrations, gunicorn).

On PostgreSQL the name derives from `TEST_DATABASE_URL`'s database (CI's `test`
gives `test_<purpose>_<hex>`), created over an autocommit connection and
dropped afterwards; on SQLite it is a file in a temporary directory.
"""

import os
import uuid
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])


@contextmanager
def postgres_database(base_url, purpose):
    """CREATE a database beside `base_url`'s, yield its URL, DROP it on exit."""
    base = make_url(base_url)
    name = f"{base.database}_{purpose}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield base.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextmanager
def throwaway_database(backend, purpose, directory):
    """An empty database of `backend` for one test (SQLite under `directory`)."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / f'{purpose}.db'}"
    elif backend == "postgresql":
        with postgres_database(os.environ["TEST_DATABASE_URL"], purpose) as url:
            yield url
    else:
        raise ValueError(f"unknown backend {backend!r}")


def backend_params():
    """`backend` parameters, PostgreSQL ones marked so `-m postgres` selects them."""
    return [
        pytest.param(name, marks=[pytest.mark.postgres] if name == "postgresql" else [])
        for name in BACKENDS
    ]
