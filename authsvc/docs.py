"""OpenAPI spec, Swagger UI and ReDoc, with every asset served by the app itself."""

from flask import Blueprint, abort, send_from_directory
from openapi_ui_bundles import redoc, swagger_ui

from .errors import PROBLEM_JSON
from .schemas.fields import Text
from .schemas.responses import ProblemSchema

API_VERSION = "1.0.0"
DESCRIPTION = """\
User authentication: register, log in, rotating refresh tokens, sessions, profile, \
and user administration.

**Tokens.** Register or log in for a short-lived access token and a refresh token. Send \
the access token as `Authorization: Bearer <token>`; exchange the refresh token at \
`/api/v1/auth/refresh` for a new pair (each refresh token works once: presenting it \
again ends its session). In Swagger UI (`/docs`), **Authorize** logs in with a username \
(or email) and password, or takes an access token.

**Multi-factor authentication.** With MFA on, login answers 403 \
`urn:authsvc:problem:mfa-required` with an `mfa_token` instead of tokens (the OAuth2 form \
that **Authorize** sends too): call `POST /api/v1/auth/mfa/verify` with the `mfa_token` and \
a TOTP or recovery code for the token pair, then paste its `access_token` into \
**Authorize** (bearerAuth). Tokens of such a session carry `amr: ["pwd", "otp", "mfa"]`.

**Errors** are `application/problem+json` (RFC 9457): `type`, `title`, `status`, \
`detail`, and for 422 `errors`, the messages of each invalid field. A 401 carries \
`WWW-Authenticate: Bearer`, a 429 `Retry-After`.

**Request ids.** Every response carries `X-Request-ID`: the client's own when it is 1 \
to 128 of `A-Z a-z 0-9 . _ -`, a new one otherwise. Quote it when reporting a problem.
"""
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
        "API_SPEC_OPTIONS": {"info": {"description": DESCRIPTION}},
    }
    for key, value in defaults.items():
        app.config.setdefault(key, value)


def init_api(app, api):
    """Bind flask-smorest to `app`, documenting its stock error responses as problems."""
    configure(app)
    # flask-smorest documents 422 (and `default`) with its own error schema;
    # ours is the problem+json that errors.py really sends.
    api.ERROR_SCHEMA = ProblemSchema
    api.init_app(app)
    api.ma_plugin.converter.add_attribute_function(text_without_nul)
    use_problem_responses(api)
    declare_security_schemes(api)


def text_without_nul(converter, field, ret=None, **kwargs):
    """A pattern for `Text` fields that have none: what `Text` refuses, the spec says."""
    if isinstance(field, Text) and "pattern" not in (ret or {}):
        return {"pattern": "^[^\\u0000]*$"}
    return {}


VALIDATION_EXAMPLE = {
    "type": "about:blank",
    "title": "Unprocessable Entity",
    "status": 422,
    "detail": "Validation failed",
    "errors": {"email": ["Not a valid email address."], "password": ["Password is too common."]},
}


def use_problem_responses(api):
    """Give flask-smorest's shared error responses the problem+json content type."""
    for name, response in api.spec.components.responses_lazy.items():
        content = response.get("content", {})
        if "application/json" in content:
            content[PROBLEM_JSON] = content.pop("application/json")
        if name == "UNPROCESSABLE_ENTITY":
            response["description"] = (
                "Validation failed: `errors` maps each invalid body field or query "
                "parameter (unknown ones included) to its messages"
            )
            content[PROBLEM_JSON]["example"] = VALIDATION_EXAMPLE
        elif name == "DEFAULT_ERROR":
            response["description"] = "Any other error (404, 405, 500...), as a problem"


def declare_security_schemes(api):
    api.spec.components.security_scheme(
        "bearerAuth",
        {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An access token from register, login or refresh",
        },
    )
    api.spec.components.security_scheme(
        "OAuth2PasswordBearer",
        {
            "type": "oauth2",
            "description": "Log in with username (or email) and password; "
            "client id and secret are not needed",
            "flows": {"password": {"tokenUrl": "/api/v1/auth/login", "scopes": {}}},
        },
    )
    api.spec.components.security_scheme(
        "clientBasic",
        {
            "type": "http",
            "scheme": "basic",
            "description": "An introspection client's `client_id:client_secret` "
            "(`flask clients create NAME`)",
        },
    )
