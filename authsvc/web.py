"""Cross-cutting HTTP and database behaviour: headers on every response, SQLite setup."""

from flask import request
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


def register_hooks(app):
    app.before_request(normalize_bearer_scheme)
    app.after_request(set_security_headers)


def normalize_bearer_scheme():
    """Auth schemes ignore case (RFC 7235): read `bearer x` as `Bearer x`.

    flask-jwt-extended compares the scheme exactly, so it is rewritten here once.
    """
    header = request.environ.get("HTTP_AUTHORIZATION", "")
    if header[:7].lower() == "bearer " and not header.startswith("Bearer "):
        request.environ["HTTP_AUTHORIZATION"] = "Bearer " + header[7:]


def set_security_headers(response):
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("X-Frame-Options", "DENY")
    if request.path in DOCS_PATHS:
        headers.setdefault("Content-Security-Policy", DOCS_CSP)
    elif not request.path.startswith("/docs-assets/"):
        headers.setdefault("Content-Security-Policy", API_CSP)
    if request.path.startswith("/api/") or request.path == "/health":
        # Tokens and user data must never sit in a shared or browser cache.
        headers["Cache-Control"] = "no-store"
        headers.setdefault("Pragma", "no-cache")
    return response


def _lower(value):
    return value.lower() if isinstance(value, str) else value


def configure_database(app):
    """SQLite as a real deployment: WAL, a busy timeout, foreign keys enforced."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.name != "sqlite":
        return

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
