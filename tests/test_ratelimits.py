"""authsvc/api/ratelimits.py: the limit keys, when the database goes away under them."""

import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from authsvc.extensions import db
from testing.tcp_proxy import TcpProxy
from tests.helpers import LOGIN, assert_problem, make_app


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_a_database_lost_while_the_login_limit_looks_up_the_account_answers_503(database_url):
    # The per-account login limit looks the account up before the view runs.
    # Flask-Limiter swallows its key function's errors, so when the connection
    # died in that lookup the view went on with a session stuck in a failed
    # transaction: PendingRollbackError, a 500 (seen with PostgreSQL cut under load).
    url = make_url(database_url)
    proxy = TcpProxy(url.host, url.port or 5432)
    proxy.up()
    try:
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        app = make_app(proxied, RATELIMIT_ENABLED=True)
        client = app.test_client()
        assert client.get("/health").status_code == 200  # a pooled connection, alive
        cut = []

        def cut_before_the_account_lookup(conn, cursor, statement, *args):
            if not cut and "FROM users" in statement:
                cut.append(statement)
                proxy.close()  # the database goes away: connections reset, new ones refused

        with app.app_context():
            event.listen(db.engine, "before_cursor_execute", cut_before_the_account_lookup)
        response = client.post(LOGIN, json={"username": "ada", "password": "not-the-password"})
        assert cut, "the lookup never ran"
        assert_problem(response, 503)
        assert response.headers["Retry-After"] == "5"
        proxy.up()
        # The database is back: the same app serves again, with no restart.
        assert client.get("/health").status_code == 200
        with app.app_context():
            db.engine.dispose()
    finally:
        proxy.close()


def test_a_login_while_the_database_is_down_logs_one_line_and_no_traceback(
    database_url, monkeypatch, caplog
):
    # The per-account key's lookup meets the outage first. Raised, Flask-Limiter
    # took it for its storage failing: a warning, a switch of every limit to
    # this worker's memory, then "Failed to rate limit" with a full traceback,
    # on every login; the view's 503 already says what happened, in one line.
    app = make_app(database_url, RATELIMIT_ENABLED=True)
    client = app.test_client()

    def broken(*args, **kwargs):
        raise OperationalError("SELECT", {}, Exception("connection refused"))

    try:
        with app.app_context():
            monkeypatch.setattr(db.session, "execute", broken)
            caplog.clear()
            response = client.post(LOGIN, json={"username": "ada", "password": "not-it"})
        assert_problem(response, 503)
        assert response.headers["Retry-After"] == "5"  # the 503's own, not the limit's window
        logged = [(record.name, record.getMessage()) for record in caplog.records]
        assert not any(record.exc_info for record in caplog.records), logged
        serious = [message for _name, message in logged if "database" in message]
        assert serious == ["database unavailable: Exception"], logged  # the view's one line
        assert not any(name == "flask-limiter" for name, _message in logged), logged
    finally:
        with app.app_context():
            db.engine.dispose()
