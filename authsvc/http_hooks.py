"""Request hooks: request ids, metrics, bearer-scheme case, security headers; no cookies.

`register_request_hooks` is the one place that adds them, in the order they run.
"""

from flask import request
from flask.sessions import SessionInterface

from . import keyring, metrics, observability
from .api.ratelimits import keep_retry_after_where_meant, note_own_retry_after

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


def register_request_hooks(app):
    """Add authsvc's request hooks around those of the extensions, in this order.

    Before the view:
      1. `assign_request_id`: first, so every log line of the request, and
         the answer to any hook that stops the request early, carries the id.
      2. `metrics.start_timer` (METRICS_ENABLED): times everything after it.
      3. the extensions' own hooks (none today: see `skip_limiter_app_check`).
      4. `normalize_bearer_scheme`: before the view's `jwt_required` reads the header.
      5. `keyring.prepare_keys`: reloads the signing keys when due (and makes
         the first ones) before the view opens a transaction of its own.
    After the view (and after an error handler's answer):
      1. `set_security_headers`: fills in only what the view left unset; then
         `note_own_retry_after` (RATELIMIT_ENABLED) keeps the answer's own `Retry-After`.
      2. the extensions' own: Flask-Limiter's `X-RateLimit-*` and `Retry-After`,
         flask-cors' headers.
      3. `keep_retry_after_where_meant` (RATELIMIT_ENABLED): after the limiter's,
         it gives answers other than 429 back the `Retry-After` they came with.
      4. `metrics.record`: counts the status the client really gets.
      5. `add_request_id_header`: last, so no answer leaves without its id.

    Call it after the extensions are bound: it places its hooks around theirs
    (Flask runs `after_request` hooks from the last registered to the first).
    """
    app.session_interface = NoCookieSession()
    first = [observability.assign_request_id]
    last = [observability.add_request_id_header]
    if app.config["METRICS_ENABLED"]:
        first.append(metrics.start_timer)
        last.insert(0, metrics.record)
    if app.config["RATELIMIT_ENABLED"]:
        last.insert(0, keep_retry_after_where_meant)
    before = app.before_request_funcs.setdefault(None, [])
    before[:0] = first
    before.append(normalize_bearer_scheme)
    before.append(keyring.prepare_keys)
    after = app.after_request_funcs.setdefault(None, [])
    after[:0] = reversed(last)
    if app.config["RATELIMIT_ENABLED"]:
        after.append(note_own_retry_after)
    after.append(set_security_headers)


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
