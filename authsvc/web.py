"""Cross-cutting HTTP and database behaviour: headers on every response, SQLite setup."""

from flask import current_app, request
from flask.sessions import SessionInterface
from sqlalchemy import event

from .extensions import db

DOCS_PATHS = ("/docs", "/redoc")
# The docs pages run only the app's own scripts; Swagger UI and ReDoc inject
# styles, ReDoc renders in a blob: worker and shows data: images.
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "font-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
API_CSP = "default-src 'none'; frame-ancestors 'none'"


class NoCookieSession(SessionInterface):
    """authsvc keeps no state in cookies: no session cookie is read or ever set.

    Flask's default would build a signing serializer and look for a cookie on
    every request; this one hands Flask its null session at once.
    """

    def open_session(self, app, request):
        return None

    def save_session(self, app, session, response):
        return None


def register_hooks(app):
    app.session_interface = NoCookieSession()
    app.before_request(normalize_bearer_scheme)
    app.after_request(set_security_headers)


def normalize_bearer_scheme():
    """Auth schemes ignore case (RFC 7235): read `bearer x` as `Bearer x`.

    flask-jwt-extended compares the scheme exactly, so it is rewritten here once.
    """
    header = request.environ.get("HTTP_AUTHORIZATION", "")
    if header[:7].lower() == "bearer " and not header.startswith("Bearer "):
        request.environ["HTTP_AUTHORIZATION"] = "Bearer " + header[7:]


COMMON_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
)
API_HEADERS = (*COMMON_HEADERS, ("Content-Security-Policy", API_CSP), ("Pragma", "no-cache"))
DOCS_HEADERS = (*COMMON_HEADERS, ("Content-Security-Policy", DOCS_CSP))
OTHER_HEADERS = (*COMMON_HEADERS, ("Content-Security-Policy", API_CSP))


def set_security_headers(response):
    """Add what a view did not set itself (one pass over the headers, not one per name)."""
    path = request.path
    if path.startswith("/api/") or path == "/health":
        defaults = API_HEADERS
        # Tokens and user data must never sit in a shared or browser cache.
        response.headers["Cache-Control"] = "no-store"
    elif path in DOCS_PATHS:
        defaults = DOCS_HEADERS
    elif path.startswith("/docs-assets/"):
        defaults = COMMON_HEADERS
    else:
        defaults = OTHER_HEADERS
    present = {name.lower() for name, _ in response.headers}
    for name, value in defaults:
        if name.lower() not in present:
            response.headers.add(name, value)
    return response


def _lower(value):
    return value.lower() if isinstance(value, str) else value


LOOKUP_ENGINE = "authsvc.lookup_engine"


def lookup_engine():
    """The engine for single-SELECT lookups outside the request's session (`configure_database`)."""
    return current_app.extensions[LOOKUP_ENGINE]


def configure_database(app):
    """SQLite as a real deployment: WAL, a busy timeout, foreign keys enforced.

    Also picks the engine for lookups that are one SELECT (the revocation
    check): on PostgreSQL it runs them outside a transaction, sparing the
    BEGIN and ROLLBACK round trips (a third of the check's time there).
    pysqlite opens no transaction for a SELECT, and switching would cost more.
    """
    with app.app_context():
        engine = db.engine
    if engine.dialect.name != "sqlite":
        app.extensions[LOOKUP_ENGINE] = engine.execution_options(isolation_level="AUTOCOMMIT")
        return
    app.extensions[LOOKUP_ENGINE] = engine

    @event.listens_for(engine, "connect")
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
