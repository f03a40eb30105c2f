"""Blueprint `auth`: register, login, refresh, logout, logout-all, sessions."""

from flask import jsonify, request
from flask_jwt_extended import current_user

from .. import accounts, metrics, sessions, tokens
from ..errors import BadRequest, InvalidCredentials, NotFound, TokenRejected
from ..jwt_callbacks import current_session_id
from ..schemas.accounts import (
    LoginSchema,
    RefreshTokenSchema,
    RegisterSchema,
    SessionSchema,
    TokenPairSchema,
    UserSchema,
)
from ..schemas.responses import MessageSchema, SessionsRevokedSchema
from . import API_PREFIX, Blueprint, authenticated, client
from . import examples as ex
from .ratelimits import account_key, address_key

blp = Blueprint(
    "auth",
    __name__,
    url_prefix=f"{API_PREFIX}/auth",
    description="Register, log in, rotate tokens, end sessions",
)


@blp.route("/register", methods=["POST"])
@blp.rate_limit("REGISTER_RATE_LIMIT", address_key)
@blp.arguments(RegisterSchema, example=ex.REGISTER)
@blp.response(201, TokenPairSchema, example=ex.TOKEN_PAIR)
@blp.problem(409, "Email or username taken", detail="Email is already registered.")
def register(data):
    """Create an account and start a session (or, when verification is required, no session)"""
    user, started = accounts.register(data, client())
    if started is None:  # no session before the address is verified: the user, no tokens
        response = jsonify(UserSchema().dump(user))
        response.status_code = 201
        return response
    return started.tokens


@blp.route("/login", methods=["POST"])
@blp.rate_limit("LOGIN_RATE_LIMIT", address_key, account_key)
@blp.arguments(
    LoginSchema,
    location="json_or_form",
    example=ex.LOGIN,
    bad_request="The body is not valid JSON, or grant_type is not `password`",
)
@blp.doc(
    requestBody={
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {"$ref": "#/components/schemas/Login"},
                "example": ex.LOGIN_FORM,
            }
        }
    }
)
@blp.response(200, TokenPairSchema, example=ex.TOKEN_PAIR)
@blp.problem(
    401, "Wrong credentials (the same for an unknown user)", detail=InvalidCredentials.detail
)
@blp.problem(
    403,
    "Account disabled (only said when the password is right); or MFA is on: "
    "`type` `urn:authsvc:problem:mfa-required` with `mfa_token` and `methods`, no session "
    "yet (finish at `POST /api/v1/auth/mfa/verify`); or, with EMAIL_VERIFICATION_REQUIRED, "
    "the email is not verified: `type` `urn:authsvc:problem:email-unverified`",
    detail="Account is disabled",
)
def login(data):
    """Log in with username or email and password (JSON or OAuth2 form)"""
    grant_type = data.get("grant_type")
    if grant_type is not None and grant_type != "password":
        raise BadRequest("Unsupported grant_type: only 'password' is accepted")
    _user, started = accounts.authenticate(data["username"], data["password"], client())
    return started.tokens


def _presented_refresh_token(data):
    token = data.get("refresh_token")
    if token is None:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            token = value.strip()
    return token


@blp.route("/refresh", methods=["POST"])
@blp.rate_limit("REFRESH_RATE_LIMIT", address_key)
@blp.arguments(RefreshTokenSchema, required=False, example=ex.REFRESH)
@blp.response(200, TokenPairSchema, example=ex.TOKEN_PAIR)
@blp.problem(
    401,
    "Missing, invalid, expired, revoked, reused or not a refresh token",
    detail="Refresh token reuse detected; the session has been revoked",
)
def refresh(data):
    """Exchange a refresh token for a new pair (the old one is retired)"""
    claims = tokens.decode_refresh_token(_presented_refresh_token(data))
    rotation = sessions.rotate(claims, client())
    if rotation.reuse_detected:
        metrics.refresh_reuse_detected()
        raise TokenRejected(sessions.REUSE_DETECTED)
    return rotation.tokens


@blp.route("/logout", methods=["POST"])
@blp.arguments(RefreshTokenSchema, required=False, example=ex.REFRESH)
@blp.response(200, MessageSchema, example=ex.LOGGED_OUT)
@blp.problem(401, "Missing, invalid or expired refresh token", detail="Token has expired")
def logout(data):
    """End the session of a refresh token (repeating it is harmless)"""
    sessions.logout(tokens.decode_refresh_token(_presented_refresh_token(data)))
    return {"message": "Logged out"}


@blp.route("/logout-all", methods=["POST"])
@authenticated
@blp.response(200, SessionsRevokedSchema, example=ex.ALL_LOGGED_OUT)
def logout_all():
    """End every session of the calling user"""
    count = sessions.logout_all(current_user.id, current_session_id())
    return {"message": "Logged out of all sessions", "sessions_revoked": count}


@blp.route("/sessions", methods=["GET"])
@authenticated
@blp.response(200, SessionSchema(many=True), example=ex.SESSIONS)
def list_sessions():
    """List the calling user's live sessions, newest first"""
    sid = current_session_id()
    return [
        {**_session_fields(session), "current": session.id == sid}
        for session in sessions.list_sessions(current_user.id)
    ]


def _session_fields(session):
    return {
        name: getattr(session, name)
        for name in ("id", "created_at", "last_used_at", "user_agent", "ip", "expires_at")
    }


@blp.route("/sessions/<path:session_id>", methods=["DELETE"])
@authenticated
@blp.response(204)
@blp.problem(404, "Not one of the caller's live sessions", detail="Session not found")
def revoke_session(session_id):
    """End one of the calling user's sessions"""
    if not sessions.end_own_session(current_user.id, session_id):
        raise NotFound("Session not found")
