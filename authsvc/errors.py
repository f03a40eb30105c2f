"""Errors: the one problem+json builder (RFC 9457), domain exceptions, handlers.

A leaf module: it imports nothing else of the project.
"""

from http import HTTPStatus

import flask_smorest
from flask import current_app, jsonify
from sqlalchemy.exc import InterfaceError, OperationalError

PROBLEM_JSON = "application/problem+json"
# Headers of a werkzeug exception worth passing on to the client.
FORWARDED_HEADERS = ("Allow", "Retry-After")


def problem(status, detail=None, *, errors=None, headers=None, type="about:blank", members=None):
    """Build an application/problem+json response (`members`: RFC 9457 extension members)."""
    status = int(status)
    try:
        title = HTTPStatus(status).phrase
    except ValueError:  # a status no standard names
        title = "Error"
    body = {"type": type, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors is not None:
        body["errors"] = errors
    body.update(members or {})
    response = jsonify(body)
    response.status_code = status
    response.mimetype = PROBLEM_JSON
    response.headers["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def bearer_challenge(token_sent):
    """The RFC 6750 challenge: `error` only when a token was sent and refused."""
    return 'Bearer error="invalid_token"' if token_sent else "Bearer"


class ServiceError(Exception):
    """A domain failure the HTTP layer turns into a problem response."""

    status = 400
    detail = "Bad request"
    type = "about:blank"

    def __init__(self, detail=None, *, errors=None):
        super().__init__(detail or self.detail)
        self.detail = detail or self.detail
        self.errors = errors
        self.members = {}

    def headers(self):
        return {}


class BadRequest(ServiceError):
    status = 400


class InvalidCredentials(ServiceError):
    status = 401
    detail = "Incorrect username or password"

    def headers(self):
        return {"WWW-Authenticate": bearer_challenge(token_sent=False)}


class TokenMissing(ServiceError):
    status = 401
    detail = "Missing token"

    def headers(self):
        return {"WWW-Authenticate": bearer_challenge(token_sent=False)}


class TokenRejected(ServiceError):
    status = 401
    detail = "Invalid token"

    def headers(self):
        return {"WWW-Authenticate": bearer_challenge(token_sent=True)}


class SecondFactorRejected(ServiceError):
    """A refused second step of login: one message, but for a locked TOTP.

    `reason` says why, for audit and metrics: `wrong_code`, `replayed`,
    `locked` or `invalid_token` (an mfa_token unknown, used, expired or exhausted).
    """

    status = 401
    detail = "Invalid or expired MFA token, or wrong code"
    LOCKED = "TOTP is locked after too many wrong codes: use a recovery code"

    def __init__(self, reason):
        super().__init__(self.LOCKED if reason == "locked" else None)
        self.reason = reason

    def headers(self):
        return {"WWW-Authenticate": bearer_challenge(token_sent=False)}


class Forbidden(ServiceError):
    status = 403
    detail = "Not allowed"


class AccountDisabled(Forbidden):
    detail = "Account is disabled"


class MfaRequired(Forbidden):
    """A right password of an MFA user: no session, an `mfa_token` for the second step."""

    type = "urn:authsvc:problem:mfa-required"
    detail = "A second factor is required: POST the mfa_token and a code to /api/v1/auth/mfa/verify"

    def __init__(self, mfa_token, methods):
        super().__init__()
        self.members = {"mfa_token": mfa_token, "methods": list(methods)}


class EmailUnverified(Forbidden):
    detail = "Email address is not verified"
    type = "urn:authsvc:problem:email-unverified"


class SecondFactorFailed(Forbidden):
    detail = "This account has two-step verification: a valid mfa_code is required"


class InvalidEmailToken(BadRequest):
    detail = "Invalid or expired token"


class NotFound(ServiceError):
    status = 404
    detail = "Not found"


class Conflict(ServiceError):
    status = 409
    detail = "Conflict"


class ValidationFailed(ServiceError):
    status = 422
    detail = "Validation failed"


def flatten_messages(messages):
    """Turn webargs' `{location: {field: [...]}}` into `{field: [...]}`."""
    flat = {}
    for location_errors in (messages or {}).values():
        if not isinstance(location_errors, dict):
            flat.setdefault("_body", []).extend(_as_list(location_errors))
            continue
        for field, field_errors in location_errors.items():
            flat.setdefault(str(field), []).extend(_as_list(field_errors))
    return flat


def _as_list(messages):
    if isinstance(messages, dict):
        return [msg for value in messages.values() for msg in _as_list(value)]
    if isinstance(messages, (list, tuple)):
        return [msg for value in messages for msg in _as_list(value)]
    return [str(messages)]


def handle_service_error(error):
    return problem(
        error.status,
        error.detail,
        errors=error.errors,
        headers=error.headers(),
        type=error.type,
        members=error.members,
    )


def handle_http_exception(error):
    """Every werkzeug/webargs HTTP error (404, 405, 413, 422, 429, 500...)."""
    data = getattr(error, "data", None) or {}
    headers = {name: value for name, value in error.get_headers() if name in FORWARDED_HEADERS}
    headers.update(data.get("headers") or {})
    if error.code == 422:
        return problem(
            422, "Validation failed", errors=flatten_messages(data.get("messages")), headers=headers
        )
    if error.code == 400 and data.get("messages"):
        return problem(400, "The request body is not valid JSON", headers=headers)
    if error.code >= 500:
        return problem(error.code, "An unexpected error occurred", headers=headers)
    return problem(error.code, _describe(error), headers=headers)


def _describe(error):
    if error.code == 429:
        return f"Too many requests: {error.description}"
    return error.description


def handle_database_unavailable(error):
    """The database cannot be reached (or stayed locked): 503, try again shortly."""
    current_app.logger.error("database unavailable: %s", type(error.orig).__name__)
    return problem(
        503, "The database is unavailable; try again shortly", headers={"Retry-After": "5"}
    )


def handle_unexpected(error):
    """Anything else: log it, answer a bare 500 (never a stack trace)."""
    current_app.logger.exception("unhandled error", exc_info=error)
    return problem(500, "An unexpected error occurred")


class Api(flask_smorest.Api):
    """flask-smorest's Api, answering every HTTP error as a problem.

    `handle_http_exception` is flask-smorest's documented override point: the
    Api registers it on the app for every `HTTPException` (werkzeug's 404,
    405, 413, webargs' 400 and 422, Flask-Limiter's 429...).
    """

    def handle_http_exception(self, error):
        return handle_http_exception(error)


def register_errorhandlers(app):
    """The handlers of what is no HTTPException (those are the `Api`'s)."""
    app.register_error_handler(ServiceError, handle_service_error)
    app.register_error_handler(OperationalError, handle_database_unavailable)
    app.register_error_handler(InterfaceError, handle_database_unavailable)
    app.register_error_handler(Exception, handle_unexpected)
