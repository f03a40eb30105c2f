"""HTTP layer: flask-smorest blueprints and what they share.

A view's decorators say what it does, and its error documentation follows
from them: `authenticated` documents the 401, `admin_required` the 403, body
`arguments` the 400, 413 and 422, `rate_limit` the 429. Whatever a setting
decides (the body limit, each rate limit) is documented from the settings by
`declare_responses`.
"""

from functools import wraps
from http import HTTPStatus

import flask_smorest
from flask import request
from flask_jwt_extended import current_user, jwt_required
from limits import parse as parse_limit
from webargs.flaskparser import FlaskParser, abort

from ..errors import PROBLEM_JSON, Forbidden
from ..extensions import limiter
from ..schemas.responses import ProblemSchema
from ..sessions import Client
from .ratelimits import LIMITED, limit_from_config

API_PREFIX = "/api/v1"
REVOKED = "Token has been revoked"
ADMIN_REQUIRED = "Admin privileges required"
BEARER_CHALLENGE = {
    "WWW-Authenticate": {
        "description": '`Bearer`, or `Bearer error="invalid_token"` when a token was sent',
        "schema": {"type": "string"},
    }
}
RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}},
}
BODY_LOCATIONS = ("json", "json_or_form", "form")
# Shared responses (components/responses) the views refer to by name.
UNAUTHENTICATED = "UNAUTHENTICATED"
NOT_ADMIN = "NOT_ADMIN"
PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"


class Parser(FlaskParser):
    """webargs' parser, with every unparseable JSON body answered 400.

    webargs catches only JSONDecodeError; a deeply nested body (RecursionError)
    or a number past Python's digit limit (ValueError) would otherwise be a 500.
    """

    def load_json(self, req, schema):
        try:
            return super().load_json(req, schema)
        except (RecursionError, ValueError) as error:
            abort(400, exc=error, messages={"json": ["Invalid JSON body."]})


def problem_doc(status, description, *, detail=None, errors=None, headers=None):
    """An error answer as OpenAPI writes it: application/problem+json, with an example."""
    example = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail or description,
    }
    if errors is not None:
        example["errors"] = errors
    if status == 401:
        headers = {**BEARER_CHALLENGE, **(headers or {})}
    if status == 429:
        headers = {**RETRY_AFTER, **(headers or {})}
    doc = {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": ProblemSchema, "example": example}},
    }
    if headers:
        doc["headers"] = headers
    return doc


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest Blueprint that also parses JSON-or-form bodies (OAuth2 login)."""

    ARGUMENTS_PARSER = Parser()

    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {
        **flask_smorest.Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
        "json_or_form": "application/json",
    }

    def problem(self, status, description, *, detail=None, errors=None, headers=None):
        """Document an error answer: application/problem+json, with an example."""
        doc = problem_doc(status, description, detail=detail, errors=errors, headers=headers)
        media = doc["content"][PROBLEM_JSON]
        return self.alt_response(
            status,
            schema=media["schema"],
            content_type=PROBLEM_JSON,
            description=doc["description"],
            example=media["example"],
            headers=doc.get("headers"),
        )

    def arguments(self, schema, *, location="json", bad_request=None, **kwargs):
        """Parse the view's arguments; a body also documents its 400 and 413.

        flask-smorest documents the 422 itself. `bad_request` describes the
        400 when the view has reasons of its own to answer one.
        """
        parse = super().arguments(schema, location=location, **kwargs)
        if location not in BODY_LOCATIONS:
            return parse

        def decorator(view):
            view = parse(view)
            view = self.problem(400, bad_request or "The body is not valid JSON")(view)
            return self.alt_response(413, PAYLOAD_TOO_LARGE)(view)

        return decorator

    def rate_limit(self, setting, *key_funcs, exempt_when=None, documented_as=None):
        """Limit the view by the setting named `setting`, once per key; document the 429.

        The 429 is the shared response `documented_as` (default: `setting`), one
        of `ratelimits.LIMITED`, whose limit must be this one.
        """
        documented_as = documented_as or setting
        if LIMITED.get(documented_as, (None,))[0] != setting:
            raise ValueError(f"ratelimits.LIMITED documents no 429 {documented_as} of {setting}")

        def decorator(view):
            for key_func in reversed(key_funcs):
                limit = limiter.limit(
                    limit_from_config(setting), key_func=key_func, exempt_when=exempt_when
                )
                view = limit(view)
            return self.alt_response(429, documented_as)(view)

        return decorator


def declare_responses(app, spec):
    """The shared error responses, their numbers read from `app`'s settings."""
    limit = app.config["MAX_CONTENT_LENGTH"]
    size = f"{limit // 1024} KiB" if limit % 1024 == 0 else f"{limit} bytes"
    responses = {
        UNAUTHENTICATED: problem_doc(
            401, "Missing, invalid, expired or revoked access token", detail=REVOKED
        ),
        NOT_ADMIN: problem_doc(403, "Not an admin", detail=ADMIN_REQUIRED),
        PAYLOAD_TOO_LARGE: problem_doc(413, f"The body is larger than {size}"),
    }
    for name, (setting, description) in LIMITED.items():
        limit = parse_limit(app.config[setting])
        responses[name] = problem_doc(429, description, detail=f"Too many requests: {limit}")
    for name, response in responses.items():
        spec.components.response(name, response)


def client():
    return Client.from_request(request)


# Protected operations accept the Bearer token, which Swagger UI's "Authorize"
# obtains either pasted in or through the OAuth2 password flow.
SECURITY = [{"bearerAuth": []}, {"OAuth2PasswordBearer": []}]


def authenticated(view):
    """Require a live access token in the Authorization header (documents the 401)."""
    document = Blueprint.doc(security=SECURITY, responses={"401": UNAUTHENTICATED})
    return document(jwt_required()(view))


def admin_required(view):
    """Require an admin's access token; 403 before anything is looked up (documented)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_admin:
            raise Forbidden(ADMIN_REQUIRED)
        return view(*args, **kwargs)

    return Blueprint.doc(responses={"403": NOT_ADMIN})(authenticated(wrapper))
