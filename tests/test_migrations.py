"""Migrations: empty → head → base on each backend, and no drift from the models."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool

from authsvc.extensions import db
from tests.databases import backend_params, throwaway_database

ROOT = Path(__file__).resolve().parent.parent
FLASK = Path(sys.executable).parent / "flask"
HEAD = ScriptDirectory(str(ROOT / "migrations")).get_current_head()


def flask_db(database_url, *args):
    """Run `flask db ...` as an operator would; return the completed process."""
    env = {**os.environ, "DATABASE_URL": database_url, "FLASK_APP": "wsgi", "APP_ENV": "testing"}
    return subprocess.run(
        [str(FLASK), "db", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def schema_drift(engine):
    """What autogenerate would put in a new revision (empty when none is needed)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "render_as_batch": True}
        )
        return compare_metadata(context, db.metadata)


@pytest.mark.parametrize("backend", backend_params())
def test_upgrade_check_and_downgrade(backend, tmp_path):
    with throwaway_database(backend, "mig", tmp_path) as url:
        engine = create_engine(url, poolclass=NullPool)
        try:
            upgraded = flask_db(url, "upgrade")
            assert upgraded.returncode == 0, upgraded.stderr
            tables = set(inspect(engine).get_table_names())
            assert set(db.metadata.tables) | {"alembic_version"} == tables
            with engine.connect() as connection:
                version = connection.execute(text("SELECT version_num FROM alembic_version"))
                assert version.scalar_one() == HEAD

            assert schema_drift(engine) == []
            checked = flask_db(url, "check")
            assert checked.returncode == 0, checked.stdout + checked.stderr

            downgraded = flask_db(url, "downgrade", "base")
            assert downgraded.returncode == 0, downgraded.stderr
            assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
            with engine.connect() as connection:
                versions = connection.execute(text("SELECT count(*) FROM alembic_version"))
                assert versions.scalar_one() == 0
            # The drift check has teeth: against the empty schema it sees every table.
            added = {diff[1].name for diff in schema_drift(engine) if diff[0] == "add_table"}
            assert added == set(db.metadata.tables)
        finally:
            engine.dispose()
