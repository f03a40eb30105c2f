"""OpenAPI spec, Swagger UI and ReDoc, with every asset served by the app itself."""

from flask import Blueprint, abort, send_from_directory
from openapi_ui_bundles import redoc, swagger_ui

API_VERSION = "1.0.0"
ASSETS_PREFIX = "/docs-assets"
BUNDLES = {"swagger-ui": swagger_ui.static_path, "redoc": redoc.static_path}

assets = Blueprint(
    "docs_assets", __name__, static_folder="static/docs", static_url_path=f"{ASSETS_PREFIX}/app"
)


@assets.route(f"{ASSETS_PREFIX}/<bundle>/<path:filename>")
def bundle_asset(bundle, filename):
    """Serve a file of the vendored Swagger UI or ReDoc bundle."""
    if bundle not in BUNDLES:
        abort(404)
    return send_from_directory(BUNDLES[bundle], filename, max_age=86400)


def configure(app):
    """Settings flask-smorest reads at `api.init_app`."""
    defaults = {
        "API_TITLE": "authsvc",
        "API_VERSION": API_VERSION,
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        "OPENAPI_SWAGGER_UI_URL": f"{ASSETS_PREFIX}/swagger-ui/",
        "OPENAPI_REDOC_PATH": "redoc",
        "OPENAPI_REDOC_URL": f"{ASSETS_PREFIX}/redoc/redoc.standalone.js",
        "API_SPEC_OPTIONS": {
            "info": {
                "description": "User authentication: register, log in, rotating refresh "
                "tokens, sessions, profile, and user administration.",
            },
        },
    }
    for key, value in defaults.items():
        app.config.setdefault(key, value)


def declare_security_schemes(api):
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    api.spec.components.security_scheme(
        "OAuth2PasswordBearer",
        {"type": "oauth2", "flows": {"password": {"tokenUrl": "/api/v1/auth/login", "scopes": {}}}},
    )
