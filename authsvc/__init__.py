"""authsvc: a user authentication service (Flask, JWT, rotating refresh tokens)."""

import click
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from config import DEV_SECRET_KEY, load_config

from . import docs, metrics, observability, web
from .api import auth, health, ratelimits, users
from .api import metrics as metrics_api
from .cli import register_commands
from .errors import register_errorhandlers
from .extensions import api, bcrypt, cors, db, jwt, limiter
from .jwt_callbacks import register_jwt

__version__ = docs.API_VERSION

MIN_SECRET_KEY_BYTES = 32


def create_app(config=None):
    """Build the app; `config` is a mapping of settings that win over the environment."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_object(load_config(config))
    app.json.sort_keys = False
    check_production_settings(app)
    if app.config["TRUSTED_PROXIES"] > 0:
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    # First, so their hooks run even when a later one (the rate limiter) answers early.
    observability.init_app(app)
    metrics.init_app(app)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_jwt(app)
    web.register_hooks(app)
    register_commands(app)
    return app


def check_production_settings(app):
    if app.config["APP_ENV"] != "production":
        return
    key = app.config["SECRET_KEY"] or ""
    if key == DEV_SECRET_KEY:
        raise RuntimeError("SECRET_KEY must be set in production (the development key is refused)")
    if len(key.encode()) < MIN_SECRET_KEY_BYTES:
        raise RuntimeError(
            f"SECRET_KEY must be at least {MIN_SECRET_KEY_BYTES} bytes in production"
        )


def register_extensions(app):
    db.init_app(app)
    web.configure_database(app)
    register_migrations(app)
    jwt.init_app(app)
    bcrypt.init_app(app)
    if app.config["BACKEND_CORS_ORIGINS"]:  # none: no CORS headers, and no hook to run
        cors.init_app(
            app,
            resources={r"/*": {"origins": app.config["BACKEND_CORS_ORIGINS"]}},
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Total-Count", "Retry-After", "X-Request-ID"],
            methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            max_age=600,
        )
    limiter.init_app(app)
    # Every limit is a `@limiter.limit` on its view and is checked there; the
    # app-wide check Flask-Limiter runs before each request (for default and
    # blueprint limits, which authsvc has none of) would only cost time.
    # (With RATELIMIT_ENABLED off, Flask-Limiter adds no hooks at all.)
    hooks = app.before_request_funcs.get(None, [])
    if limiter._check_request_limit in hooks:
        hooks.remove(limiter._check_request_limit)
    ratelimits.register_limit_headers(app)
    docs.init_api(app, api)


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
    for blueprint in (auth.blp, users.blp, health.blp):
        api.register_blueprint(blueprint)
    if app.config["METRICS_ENABLED"]:
        api.register_blueprint(metrics_api.blp)
    app.register_blueprint(docs.assets)
