"""Request ids on every response and in every log record; JSON-lines logs."""

import json
import logging
import re
import sys

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from authsvc import observability
from authsvc.extensions import db, limiter
from authsvc.observability import AccessLogFormatter, JsonFormatter, JsonHandler
from tests.helpers import make_app

NEW_ID = re.compile(r"[0-9a-f]{32}")


def log_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_every_response_gets_a_new_request_id(client):
    first = client.get("/health").headers["X-Request-ID"]
    second = client.get("/health").headers["X-Request-ID"]
    assert NEW_ID.fullmatch(first) and NEW_ID.fullmatch(second)
    assert first != second


@pytest.mark.parametrize(
    "sane", ["abc", "req-1.2_3", "A" * 128, "0f9e8d7c-6b5a-4321-8765-43210fedcba9"]
)
def test_a_sane_client_request_id_is_kept(client, sane):
    assert client.get("/health", headers={"X-Request-ID": sane}).headers["X-Request-ID"] == sane


@pytest.mark.parametrize(
    "insane", ["", "A" * 129, "has space", 'quote"d', "new\\nline", "ünïcode", "a;b", "<script>"]
)
def test_an_insane_client_request_id_is_replaced(client, insane):
    response = client.get("/health", headers={"X-Request-ID": insane})
    assert NEW_ID.fullmatch(response.headers["X-Request-ID"])


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/nowhere", 404),
        ("delete", "/api/v1/auth/login", 405),
        ("get", "/api/v1/users/me", 401),
    ],
)
def test_errors_carry_the_request_id_too(client, method, path, status):
    response = getattr(client, method)(path, headers={"X-Request-ID": "err-1"})
    assert response.status_code == status
    assert response.headers["X-Request-ID"] == "err-1"


def test_a_rate_limited_answer_carries_the_request_id(database_url):
    # The rate limiter answers from its own before-request hook: ours must run first.
    app = make_app(database_url, RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="1 per minute")
    with app.app_context():
        limiter.reset()
    client = app.test_client()
    body = {"username": "nobody", "password": "wrong-password"}
    client.post("/api/v1/auth/login", json=body)
    response = client.post("/api/v1/auth/login", json=body, headers={"X-Request-ID": "limited"})
    assert response.status_code == 429
    assert response.headers["X-Request-ID"] == "limited"
    with app.app_context():
        db.engine.dispose()


def test_cors_exposes_the_request_id(client):
    response = client.get("/health", headers={"Origin": "http://allowed.example"})
    assert "x-request-id" in response.headers["Access-Control-Expose-Headers"].lower()


def test_app_and_audit_log_records_carry_the_request_id_and_their_extras(app, capsys):
    @app.get("/_test/log")
    def emit_logs():
        logging.getLogger("authsvc").warning("app record")
        logging.getLogger("authsvc.audit").warning(
            "login_succeeded", extra={"event": "login_succeeded", "user_id": 7, "ip": "10.0.0.1"}
        )
        return {"ok": True}

    capsys.readouterr()
    response = app.test_client().get("/_test/log", headers={"X-Request-ID": "trace-me"})
    assert response.headers["X-Request-ID"] == "trace-me"
    records = log_lines(capsys.readouterr().err)
    app_record = next(r for r in records if r["message"] == "app record")
    audit = next(r for r in records if r["logger"] == "authsvc.audit")
    assert app_record["request_id"] == "trace-me" and app_record["level"] == "WARNING"
    assert audit["request_id"] == "trace-me"
    assert (
        audit["event"] == "login_succeeded" and audit["user_id"] == 7 and audit["ip"] == "10.0.0.1"
    )
    assert {"time", "level", "logger", "message", "pid"} <= set(audit)


def test_records_outside_a_request_have_no_request_id(app, capsys):
    capsys.readouterr()
    logging.getLogger("authsvc").warning("at start-up")
    [record] = [r for r in log_lines(capsys.readouterr().err) if r["message"] == "at start-up"]
    assert record["request_id"] is None


@pytest.fixture
def quiet_app(database_url):
    app = make_app(database_url, LOG_LEVEL="WARNING")
    yield app
    with app.app_context():
        db.engine.dispose()
    observability.configure_logging("INFO")


def test_log_level_setting_filters_the_apps_records(quiet_app, capsys):
    capsys.readouterr()
    logging.getLogger("authsvc").info("chatter")
    logging.getLogger("authsvc").warning("worth saying")
    messages = [r["message"] for r in log_lines(capsys.readouterr().err)]
    assert "worth saying" in messages and "chatter" not in messages


def test_configuring_logging_twice_keeps_one_handler(app):
    observability.configure_logging("INFO")
    observability.configure_logging("INFO")
    assert sum(isinstance(h, JsonHandler) for h in logging.getLogger().handlers) == 1


def test_libraries_stay_at_warning_so_sql_parameters_are_never_logged(app):
    # At INFO, SQLAlchemy logs every statement with its parameters (hashes too).
    assert not logging.getLogger("sqlalchemy.engine.Engine").isEnabledFor(logging.INFO)
    assert logging.getLogger("authsvc").isEnabledFor(logging.INFO)


def test_database_errors_never_quote_statement_parameters(app):
    with app.app_context():
        with pytest.raises(DBAPIError) as caught:
            db.session.execute(
                text("SELECT no_such_column WHERE 1 = :secret"), {"secret": "s3cr3t"}
            )
        db.session.rollback()
    assert "s3cr3t" not in str(caught.value)


def record(name="authsvc.audit", msg="event", args=None, **extra):
    entry = logging.LogRecord(name, logging.INFO, __file__, 1, msg, args, None)
    entry.__dict__.update(extra)
    return entry


def test_json_formatter_redacts_secret_extras_and_stringifies_the_rest():
    line = JsonFormatter().format(
        record(password="hunter2", refresh_token="ey.x.y", user_id=3, when={1, 2}.__class__)
    )
    entry = json.loads(line)
    assert entry["password"] == "[redacted]" and entry["refresh_token"] == "[redacted]"
    assert entry["user_id"] == 3 and entry["when"] == "<class 'set'>"
    assert "hunter2" not in line


def test_json_formatter_keeps_a_traceback_on_one_line():
    try:
        raise ValueError("boom")
    except ValueError:
        entry = record(msg="failed")
        entry.exc_info = sys.exc_info()
    line = JsonFormatter().format(entry)
    assert "\n" not in line
    assert "ValueError: boom" in json.loads(line)["exc_info"]


def test_access_log_formatter_gives_gunicorns_atoms_the_apps_shape():
    atoms = {
        "h": "127.0.0.1",
        "m": "GET",
        "U": "/api/v1/users",
        "q": "q=secret-search",
        "s": "200",
        "B": 512,
        "D": 12345,
        "a": 'curl/8 "quoted"'.replace('"', '\\"'),
        "{x-request-id}o": "req-9",
        "{authorization}i": "Bearer ey.secret.token",
    }
    line = AccessLogFormatter().format(record("gunicorn.access", "%(h)s", (atoms,)))
    entry = json.loads(line)
    assert entry["message"] == "GET /api/v1/users 200"
    assert entry["request_id"] == "req-9" and entry["status"] == 200
    assert entry["duration_ms"] == 12.345 and entry["user_agent"] == 'curl/8 "quoted"'
    assert "secret" not in line  # neither the query string nor any request header
