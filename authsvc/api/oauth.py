"""Blueprint `oauth`: token introspection (RFC 7662) and revocation (RFC 7009).

Both take a form body, as those RFCs say. Neither counts against the auth
endpoints' rate limits; introspection's failed client authentications are
limited per client address (`INTROSPECTION_FAILURE_RATE_LIMIT`), so guessing
client secrets is slow while a healthy resource server is never throttled.
"""

from functools import wraps

from flask import Response, request

from .. import clients, introspection
from ..errors import BadRequest, ServiceError
from ..extensions import limiter
from ..schemas.oauth import TOKEN_MISSING, IntrospectionSchema, TokenFormSchema
from . import Blueprint
from . import examples as ex
from .ratelimits import address_key, limit_from_config

blp = Blueprint(
    "oauth",
    __name__,
    url_prefix="/oauth",
    description="Introspection and revocation, for services and clients holding a token",
)

BASIC_CHALLENGE = 'Basic realm="authsvc", charset="UTF-8"'
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class ClientUnauthorized(ServiceError):
    """Missing or wrong client credentials (RFC 6749 §5.2 `invalid_client`)."""

    status = 401
    detail = "Invalid client credentials"

    def headers(self):
        return {"WWW-Authenticate": BASIC_CHALLENGE}


def client_authenticated(view):
    """Require HTTP Basic credentials of a registered client (documents the 401)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        credentials = request.authorization
        if credentials is None or credentials.type != "basic":
            raise ClientUnauthorized()
        if clients.authenticate(credentials.username, credentials.password) is None:
            raise ClientUnauthorized()
        return view(*args, **kwargs)

    return blp.problem(
        401,
        "Missing or wrong client credentials",
        detail=ClientUnauthorized.detail,
        headers={"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Basic"}},
    )(blp.doc(security=[{"clientBasic": []}])(wrapper))


def failed_client_authentication(response):
    return response.status_code == 401


def required_token(data):
    token = data["token"]
    if not token:  # present but empty
        raise BadRequest(TOKEN_MISSING)
    return token


@blp.route("/introspect", methods=["POST"])
@limiter.limit(
    limit_from_config("INTROSPECTION_FAILURE_RATE_LIMIT"),
    key_func=address_key,
    deduct_when=failed_client_authentication,
)
@client_authenticated
@blp.arguments(TokenFormSchema, location="form", bad_request=TOKEN_MISSING, example=ex.TOKEN_FORM)
@blp.response(200, IntrospectionSchema, example=ex.INTROSPECTION)
@blp.alt_response(429, "INTROSPECTION_FAILURE_RATE_LIMIT")
def introspect(data):
    """Whether a token is live, and what it says (RFC 7662)"""
    return introspection.introspect(required_token(data)), 200, NO_STORE


@blp.route("/revoke", methods=["POST"])
@blp.arguments(TokenFormSchema, location="form", bad_request=TOKEN_MISSING, example=ex.TOKEN_FORM)
@blp.response(200, description="The token's session has ended, or the token was not live")
def revoke(data):
    """End the session of an access or refresh token (RFC 7009)"""
    introspection.revoke(required_token(data))
    return Response(status=200, headers=NO_STORE)
