"""HTTP layer: flask-smorest blueprints and what they share."""

from functools import wraps

import flask_smorest
from flask import request
from flask_jwt_extended import current_user, jwt_required

from ..errors import Forbidden
from ..tokens import Client

API_PREFIX = "/api/v1"
# Statuses every protected operation may answer, documented once.
AUTH_ERRORS = (401,)


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest Blueprint that also parses JSON-or-form bodies (OAuth2 login)."""

    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {
        **flask_smorest.Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
        "json_or_form": "application/json",
    }


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
