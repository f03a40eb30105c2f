"""authsvc/api/ratelimits.py: the limit keys, when the database goes away under them."""

import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url

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
