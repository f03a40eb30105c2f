"""The example pages (examples/), served by the app in development only.

`make run`, then http://localhost:8000/examples/passkeys.html: the page's
origin is then the default `WEBAUTHN_ORIGINS`, and its API calls are same-origin.
"""

from pathlib import Path

from flask import Blueprint, abort, send_from_directory

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PAGES = frozenset({"passkeys.html", "passkeys.js"})
# The page runs its own script only, talks to this origin only, and has inline styles.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; "
    "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

blp = Blueprint("example_pages", __name__)


@blp.route("/examples/<filename>")
def example_page(filename):
    """Serve one of the example pages."""
    if filename not in PAGES:
        abort(404)
    response = send_from_directory(EXAMPLES, filename, max_age=0)
    response.headers["Content-Security-Policy"] = PAGE_CSP
    return response


def register_example_pages(app):
    if app.config["APP_ENV"] == "development":
        app.register_blueprint(blp)
