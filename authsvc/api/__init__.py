"""HTTP layer: flask-smorest blueprints and what they share."""

from functools import wraps
from http import HTTPStatus

import flask_smorest
from flask import request
from flask_jwt_extended import current_user, jwt_required
from webargs.flaskparser import FlaskParser

from ..errors import PROBLEM_JSON, Forbidden
from ..schemas import ProblemSchema
from ..sessions import Client

API_PREFIX = "/api/v1"
# How protected operations document their 401 and 403.
UNAUTHENTICATED = "Missing, invalid, expired or revoked access token"
REVOKED = "Token has been revoked"
NOT_ADMIN = "Not an admin"
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


class Parser(FlaskParser):
    """webargs' parser, with every unparseable JSON body answered 400.

    webargs catches only JSONDecodeError; a deeply nested body (RecursionError)
    or a number past Python's digit limit (ValueError) would otherwise be a 500.
    """

    def _raw_load_json(self, req):
        try:
            return super()._raw_load_json(req)
        except (RecursionError, ValueError) as error:
            return self._handle_invalid_json_error(error, req)


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest Blueprint that also parses JSON-or-form bodies (OAuth2 login)."""

    ARGUMENTS_PARSER = Parser()

    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {
        **flask_smorest.Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
        "json_or_form": "application/json",
    }

    def problem(self, status, description, *, detail=None, errors=None, headers=None):
        """Document an error answer: application/problem+json, with an example."""
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
        return self.alt_response(
            status,
            schema=ProblemSchema,
            content_type=PROBLEM_JSON,
            description=description,
            example=example,
            headers=headers,
        )

    def body_problems(self, bad_request="The body is not valid JSON"):
        """The errors of reading a JSON body: 400 (`bad_request`) and 413."""

        def decorator(view):
            view = self.problem(400, bad_request)(view)
            return self.problem(413, "The body is larger than 64 KiB")(view)

        return decorator


def client():
    return Client.from_request(request)


# Protected operations accept the Bearer token, which Swagger UI's "Authorize"
# obtains either pasted in or through the OAuth2 password flow.
SECURITY = [{"bearerAuth": []}, {"OAuth2PasswordBearer": []}]


def authenticated(view):
    """Require a live access token in the Authorization header."""
    return Blueprint.doc(security=SECURITY)(jwt_required()(view))


def admin_required(view):
    """Require an admin's access token; 403 before anything is looked up."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_admin:
            raise Forbidden("Admin privileges required")
        return view(*args, **kwargs)

    return authenticated(wrapper)
