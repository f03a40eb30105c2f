"""Migrations: empty → head → base on each backend, and no drift from the models."""

import json
import os
import shutil
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
from testing.databases import backend_params, throwaway_database

pytestmark = pytest.mark.slow  # each test runs `flask db` several times in a subprocess

ROOT = Path(__file__).resolve().parent.parent
FLASK = Path(sys.executable).parent / "flask"
SCRIPTS = ScriptDirectory(str(ROOT / "migrations"))
HEAD = SCRIPTS.get_current_head()
REVISIONS = [script.revision for script in reversed(list(SCRIPTS.walk_revisions()))]


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


SEEDED_AT = {"now": "2026-01-01 00:00:00+00:00"}


def seed_a_session(engine):
    """Insert a user (id 1) with one login session and its refresh token, as raw rows.

    Raw SQL, for a schema of any revision since 0001; on SQLite, a revision
    that rebuilt `users` or `login_sessions` would cascade to these rows.
    """
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (id, email, username, username_key, password_hash,"
                " is_active, is_admin, created_at, updated_at) VALUES (1, 'a@example.com',"
                " 'ada', 'ada', 'x', true, false, :now, :now)"
            ),
            SEEDED_AT,
        )
        connection.execute(
            text(
                "INSERT INTO login_sessions (id, user_id, created_at, last_used_at,"
                " expires_at) VALUES (:sid, 1, :now, :now, :now)"
            ),
            {"sid": "a" * 32, **SEEDED_AT},
        )
        connection.execute(
            text(
                "INSERT INTO refresh_tokens (jti, session_id, created_at, expires_at)"
                " VALUES (:jti, :sid, :now, :now)"
            ),
            {"jti": "b" * 36, "sid": "a" * 32, **SEEDED_AT},
        )


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


@pytest.mark.parametrize("backend", backend_params())
def test_sessions_from_before_amr_become_password_sessions(backend, tmp_path):
    """0002 adds login_sessions.amr; the sessions that exist then were password logins."""
    with throwaway_database(backend, "amr", tmp_path) as url:
        engine = create_engine(url, poolclass=NullPool)
        try:
            before = flask_db(url, "upgrade", "0001")
            assert before.returncode == 0, before.stderr
            seed_a_session(engine)
            assert "amr" not in {c["name"] for c in inspect(engine).get_columns("login_sessions")}
            upgraded = flask_db(url, "upgrade")
            assert upgraded.returncode == 0, upgraded.stderr
            [column] = [
                c for c in inspect(engine).get_columns("login_sessions") if c["name"] == "amr"
            ]
            assert column["nullable"] is False
            with engine.connect() as connection:
                amr = connection.execute(text("SELECT amr FROM login_sessions")).scalar_one()
            assert (json.loads(amr) if isinstance(amr, str) else amr) == ["pwd"]
            with engine.connect() as connection:
                tokens = connection.execute(text("SELECT count(*) FROM refresh_tokens"))
                assert tokens.scalar_one() == 1, "upgrading lost the session's refresh tokens"
            # And back: 0001's schema again, the session kept.
            downgraded = flask_db(url, "downgrade", "0001")
            assert downgraded.returncode == 0, downgraded.stderr
            columns = {c["name"] for c in inspect(engine).get_columns("login_sessions")}
            assert "amr" not in columns
            with engine.connect() as connection:
                count = connection.execute(text("SELECT count(*) FROM login_sessions"))
                assert count.scalar_one() == 1
                # SQLite rebuilding login_sessions would cascade to its tokens.
                tokens = connection.execute(text("SELECT count(*) FROM refresh_tokens"))
                assert tokens.scalar_one() == 1
        finally:
            engine.dispose()


@pytest.mark.parametrize("backend", backend_params())
def test_mfa_revision_keeps_users_and_their_sessions(backend, tmp_path):
    """0005 adds users.mfa_enabled (false for everyone) and MFA tables, in place:
    recreating `users` would cascade to every session, up and down."""
    with throwaway_database(backend, "mfa", tmp_path) as url:
        engine = create_engine(url, poolclass=NullPool)
        try:
            assert flask_db(url, "upgrade", "0004").returncode == 0
            seed_a_session(engine)
            upgraded = flask_db(url, "upgrade", "0005")
            assert upgraded.returncode == 0, upgraded.stderr
            with engine.connect() as connection:
                enabled = connection.execute(text("SELECT mfa_enabled FROM users")).scalar_one()
                sessions = connection.execute(text("SELECT count(*) FROM login_sessions"))
                assert sessions.scalar_one() == 1
            assert enabled in (False, 0)
            downgraded = flask_db(url, "downgrade", "0004")
            assert downgraded.returncode == 0, downgraded.stderr
            assert "mfa_enabled" not in {c["name"] for c in inspect(engine).get_columns("users")}
            with engine.connect() as connection:
                sessions = connection.execute(text("SELECT count(*) FROM login_sessions"))
                assert sessions.scalar_one() == 1
        finally:
            engine.dispose()


@pytest.mark.parametrize("backend", backend_params())
def test_users_before_email_verification_stay_with_their_sessions_and_tokens(backend, tmp_path):
    """0006 adds users.email_verified (false for existing users) without rebuilding `users`:
    on SQLite a rebuild's DROP TABLE would cascade to every session and refresh token."""
    with throwaway_database(backend, "mail", tmp_path) as url:
        engine = create_engine(url, poolclass=NullPool)
        try:
            assert flask_db(url, "upgrade", "0005").returncode == 0
            seed_a_session(engine)
            counts = (
                "SELECT (SELECT count(*) FROM login_sessions),"
                " (SELECT count(*) FROM refresh_tokens)"
            )
            upgraded = flask_db(url, "upgrade")
            assert upgraded.returncode == 0, upgraded.stderr
            with engine.connect() as connection:
                assert tuple(connection.execute(text(counts)).one()) == (1, 1)
                verified = connection.execute(text("SELECT email_verified FROM users")).scalar_one()
            assert not verified
            downgraded = flask_db(url, "downgrade", "0005")
            assert downgraded.returncode == 0, downgraded.stderr
            with engine.connect() as connection:
                assert tuple(connection.execute(text(counts)).one()) == (1, 1)
            assert "email_verified" not in {c["name"] for c in inspect(engine).get_columns("users")}
        finally:
            engine.dispose()


def seeded_rows(engine):
    """(users, login sessions, refresh tokens): what `seed_a_session` put there."""
    with engine.connect() as connection:
        return tuple(
            connection.execute(
                text(
                    "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM login_sessions),"
                    " (SELECT count(*) FROM refresh_tokens)"
                )
            ).one()
        )


@pytest.mark.parametrize("backend", backend_params())
def test_every_revision_keeps_users_sessions_and_tokens_up_and_down(backend, tmp_path):
    """One revision at a time from the first to head and back: no step loses a row."""
    first, *later = REVISIONS
    with throwaway_database(backend, "steps", tmp_path) as url:
        engine = create_engine(url, poolclass=NullPool)
        try:
            assert flask_db(url, "upgrade", first).returncode == 0
            seed_a_session(engine)
            for revision in later:
                upgraded = flask_db(url, "upgrade", revision)
                assert upgraded.returncode == 0, upgraded.stderr
                assert seeded_rows(engine) == (1, 1, 1), f"upgrading to {revision}"
            for revision in reversed(REVISIONS[:-1]):
                downgraded = flask_db(url, "downgrade", revision)
                assert downgraded.returncode == 0, downgraded.stderr
                assert seeded_rows(engine) == (1, 1, 1), f"downgrading to {revision}"
        finally:
            engine.dispose()


# A change SQLite makes only by rebuilding the table (copy, DROP TABLE, rename),
# where PostgreSQL alters the column in place.
REBUILD_USERS = """
from alembic import op
import sqlalchemy as sa

revision = "rebuild"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users") as batch_op:
        batch_op.alter_column("full_name", type_=sa.String(120), existing_type=sa.String(100))


def downgrade():
    with op.batch_alter_table("users") as batch_op:
        batch_op.alter_column("full_name", type_=sa.String(100), existing_type=sa.String(120))
"""


@pytest.mark.parametrize("backend", backend_params())
def test_a_revision_that_rebuilds_users_keeps_what_references_it(backend, tmp_path):
    """migrations/env.py turns SQLite's foreign keys off while it migrates: with them
    on, the rebuild's DROP TABLE users cascaded to every session and refresh token."""
    migrations = tmp_path / "migrations"
    shutil.copytree(ROOT / "migrations", migrations, ignore=shutil.ignore_patterns("__pycache__"))
    (migrations / "versions" / "9999_rebuild_users.py").write_text(REBUILD_USERS.format(head=HEAD))
    with throwaway_database(backend, "rebuild", tmp_path) as url:
        engine = create_engine(url, poolclass=NullPool)
        try:
            assert flask_db(url, "upgrade", "-d", str(migrations), HEAD).returncode == 0
            seed_a_session(engine)
            upgraded = flask_db(url, "upgrade", "-d", str(migrations), "rebuild")
            assert upgraded.returncode == 0, upgraded.stderr
            [full_name] = [
                c for c in inspect(engine).get_columns("users") if c["name"] == "full_name"
            ]
            assert full_name["type"].length == 120  # the change was made
            assert seeded_rows(engine) == (1, 1, 1)
            downgraded = flask_db(url, "downgrade", "-d", str(migrations), HEAD)
            assert downgraded.returncode == 0, downgraded.stderr
            assert seeded_rows(engine) == (1, 1, 1)
            if backend == "sqlite":  # and no row points nowhere
                with engine.connect() as connection:
                    assert connection.exec_driver_sql("PRAGMA foreign_key_check").all() == []
        finally:
            engine.dispose()
