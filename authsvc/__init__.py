"""authsvc: a user authentication service (Flask, JWT, rotating refresh tokens)."""

import click
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from config import load_config

from . import database, docs, jws, keyring, observability
from .api import auth, declare_responses, health, oauth, users, wellknown
from .api import email_flows as email_flows_api
from .api import metrics as metrics_api
from .api import mfa as mfa_api
from .api import passkeys as passkeys_api
from .cli import register_commands
from .errors import register_errorhandlers
from .example_pages import register_example_pages
from .extensions import api, bcrypt, cors, db, jwt, limiter
from .http_hooks import register_request_hooks
from .jwt_callbacks import register_jwt
from .overrides import skip_limiter_app_check

__version__ = docs.API_VERSION


def create_app(config=None):
    """Build the app; `config` is a mapping of settings that win over the environment."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_object(load_config(config))  # validated: production refuses a weak key
    app.json.sort_keys = False
    observability.configure_logging(app.config["LOG_LEVEL"])
    register_proxy(app)
    register_extensions(app)
    register_cors(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_jwt(app)
    register_request_hooks(app)  # after the extensions: it places its hooks around theirs
    register_commands(app)
    return app


def register_proxy(app):
    """Trust `X-Forwarded-*` from exactly `TRUSTED_PROXIES` hops (none by default)."""
    hops = app.config["TRUSTED_PROXIES"]
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)


def register_extensions(app):
    database.init_app(app)
    register_migrations(app)
    jwt.init_app(app)
    keyring.init_app(app)  # each worker's signing keys, reloaded on a timer
    jws.init_app(app)
    bcrypt.init_app(app)
    limiter.init_app(app)
    skip_limiter_app_check(app, limiter)
    docs.init_api(app, api)


def register_cors(app):
    """CORS for `BACKEND_CORS_ORIGINS`; none: no CORS headers, and no hook to run."""
    if not app.config["BACKEND_CORS_ORIGINS"]:
        return
    cors.init_app(
        app,
        resources={r"/*": {"origins": app.config["BACKEND_CORS_ORIGINS"]}},
        allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        expose_headers=["X-Total-Count", "Retry-After", "X-Request-ID"],
        methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        max_age=600,
    )


def register_migrations(app):
    """Flask-Migrate (batch mode for SQLite), for the `flask` command line only.

    Servers never migrate: leaving Alembic unimported saves every gunicorn
    worker about 11 MB. The `flask` command loads the app inside a click context.
    """
    if click.get_current_context(silent=True) is None:
        return
    from flask_migrate import Migrate

    Migrate(app, db, render_as_batch=True)


def register_blueprints(app):
    declare_responses(app, api.spec)  # the shared error responses the views refer to
    for blueprint in (
        auth.blp,
        email_flows_api.blp,
        mfa_api.blp,
        passkeys_api.blp,
        users.blp,
        health.blp,
        wellknown.blp,
        oauth.blp,
    ):
        api.register_blueprint(blueprint)
    if app.config["METRICS_ENABLED"]:
        api.register_blueprint(metrics_api.blp)
    app.register_blueprint(docs.assets)
    register_example_pages(app)
