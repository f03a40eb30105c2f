"""OpenAPI spec, Swagger UI and ReDoc, with every asset served by the app itself."""

from http import HTTPStatus

from apispec import BasePlugin
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, abort, send_from_directory
from openapi_ui_bundles import redoc, swagger_ui

from .errors import PROBLEM_JSON
from .schemas import ProblemSchema, Text

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


class ContractPlugin(BasePlugin):
    """Document the service-wide rules, so views document only their own.

    Every error is application/problem+json (one schema); a JSON body can be
    malformed (400) or too large (413); a 401 carries WWW-Authenticate and a
    429 Retry-After; no string may contain NUL.
    """

    def init_spec(self, spec):
        for plugin in spec.plugins:
            if isinstance(plugin, MarshmallowPlugin):
                plugin.converter.add_attribute_function(text_without_nul)
        spec.components.schema("Problem", schema=ProblemSchema)

    def operation_helper(self, path=None, operations=None, **kwargs):
        for operation in (operations or {}).values():
            responses = operation.setdefault("responses", {})
            if "requestBody" in operation:
                for code, description in BODY_ERRORS.items():
                    responses[code] = _also(responses.get(code), description)
            for code, documented in list(responses.items()):
                # An error response documented with its own body (health's 503) stays.
                has_body = isinstance(documented, dict) and "content" in documented
                if (code == "default" or int(code) >= 400) and not has_body:
                    responses[code] = _problem_response(code, documented)


def text_without_nul(converter, field, ret=None, **kwargs):
    """A pattern for `Text` fields that have none: what `Text` refuses, the spec says."""
    if isinstance(field, Text) and "pattern" not in (ret or {}):
        return {"pattern": NO_NUL_PATTERN}
    return {}


NO_NUL_PATTERN = "^[^\\u0000]*$"
BODY_ERRORS = {400: "The body is not valid JSON", 413: "The body is larger than 64 KiB"}


def _also(documented, description):
    """Add `description` to what a view documented for the same status, if anything."""
    if isinstance(documented, dict) and documented.get("description"):
        return {**documented, "description": f"{documented['description']}; or: {description}"}
    return {"description": description}


def _problem_response(code, documented):
    if code == "default":
        description = "Unexpected error"
    elif isinstance(documented, dict) and documented.get("description"):
        description = documented["description"]
    else:  # a flask-smorest response name, e.g. "UNPROCESSABLE_ENTITY"
        description = HTTPStatus(int(code)).phrase
    response = {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": "Problem"}},
    }
    header = PROBLEM_HEADERS.get(str(code))
    if header:
        response["headers"] = header
    return response


PROBLEM_HEADERS = {
    "401": {
        "WWW-Authenticate": {
            "description": 'RFC 6750 challenge: `Bearer`, with `error="invalid_token"` '
            "when a token was sent and refused",
            "required": True,
            "schema": {"type": "string"},
        }
    },
    "429": {
        "Retry-After": {
            "description": "Seconds until the limit resets",
            "required": True,
            "schema": {"type": "integer"},
        }
    },
}


def declare_security_schemes(api):
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    api.spec.components.security_scheme(
        "OAuth2PasswordBearer",
        {"type": "oauth2", "flows": {"password": {"tokenUrl": "/api/v1/auth/login", "scopes": {}}}},
    )
