"""flask-jwt-extended's callbacks and error loaders, registered by `register_jwt`.

This is the HTTP side of tokens: the claims check every decoded token passes,
the revocation check (which also loads the caller), the 401 problems, and the
accessors views and the audit trail use to read what was verified. Nothing is
registered at import; `create_app` calls `register_jwt`.
"""

from flask import g, request
from flask_jwt_extended import JWTManager, get_jwt
from flask_jwt_extended.exceptions import JWTDecodeError
from sqlalchemy import bindparam, select

from . import database, jws, tokens
from .errors import TokenRejected, bearer_challenge, problem
from .extensions import db
from .models import LoginSession, User, is_live, utcnow


def check_claims(claims):
    """Refuse a verified token lacking a claim the contract requires, or of a shape never issued."""
    for claim in tokens.REQUIRED_CLAIMS:
        if claim not in claims:
            raise JWTDecodeError(f"Missing claim: {claim}")
    if claims["type"] not in ("access", "refresh"):
        raise JWTDecodeError("Unknown token type")
    # Shapes of what we issue: a decimal user id, a session id (never raw input
    # for the database, whoever holds the key).
    subject, sid = claims["sub"], claims["sid"]
    if not (isinstance(subject, str) and tokens.is_user_id(subject)):
        raise JWTDecodeError("Invalid claim: sub")
    if not (isinstance(sid, str) and tokens.is_session_id(sid)):
        raise JWTDecodeError("Invalid claim: sid")


# What a request may read of its caller: never the password hash.
PRINCIPAL = (
    User.id,
    User.email,
    User.username,
    User.full_name,
    User.is_active,
    User.is_admin,
    User.mfa_enabled,
    User.email_verified,
    User.created_at,
    User.updated_at,
)
# Built once: a statement built per request costs more than the query itself.
# Found by the session's primary key alone: with `user_id = ?` in the WHERE
# clause too, SQLite may plan (from statistics of a young database, kept by
# long-lived connections) to scan that user's sessions instead, which slows
# down as they accumulate. The owner is compared in Python.
SESSION_AND_USER = (
    select(*PRINCIPAL, LoginSession.revoked_at, LoginSession.expires_at)
    .join(LoginSession, LoginSession.user_id == User.id)
    .where(LoginSession.id == bindparam("sid"))
)


def is_revoked(jwt_header, claims):
    """One indexed lookup: the token's session is live and its user active.

    The check reads a plain row on a connection of its own (`database.lookup_engine`),
    not ORM objects through the request's session (that saves ~120 µs, a fifth of an
    authenticated request). The user's row is kept for `load_user`, so an
    authenticated request costs a single query.
    """
    with database.lookup_engine().connect() as connection:
        row = connection.execute(SESSION_AND_USER, {"sid": claims["sid"]}).first()
    if (
        row is None
        or row.id != int(claims["sub"])
        or not is_live(row, utcnow())
        or not row.is_active
    ):
        return True
    g.authenticated_user = row
    return False


def load_user(jwt_header, claims):
    """The caller as a read-only row (`current_user.id`, `.is_admin`, ...).

    A view that changes the caller loads them as a model (`caller_for_update`).
    """
    return g.get("authenticated_user")


def current_session_id():
    """The session of this request's verified access token (None without one)."""
    claims = _verified_claims()
    return claims.get("sid") if claims else None


def current_user_id():
    """The user id of this request's verified access token (None without one); never a query."""
    claims = _verified_claims()
    subject = claims.get("sub") if claims else None
    return int(subject) if isinstance(subject, str) and tokens.is_user_id(subject) else None


def _verified_claims():
    try:
        return get_jwt()
    except RuntimeError:  # outside a request, or no token was verified in it
        return None


def caller_for_update():
    """The calling user as a model to change, or 401 if they went away meanwhile."""
    user = db.session.get(User, g.authenticated_user.id)
    if user is None or not user.is_active:
        raise TokenRejected("Token has been revoked")
    return user


def _rejected(detail):
    return problem(401, detail, headers={"WWW-Authenticate": bearer_challenge(True)})


def missing_token(reason):
    # Another scheme (Basic, ...) is no Bearer token: RFC 6750 wants no error code.
    scheme = request.headers.get("Authorization", "").strip().partition(" ")[0]
    sent = scheme.lower() == "bearer"
    detail = "Malformed Authorization header" if sent else "Missing access token"
    return problem(401, detail, headers={"WWW-Authenticate": bearer_challenge(sent)})


def invalid_token(reason):
    return _rejected(f"Invalid token: {reason}")


def expired_token(jwt_header, claims):
    return _rejected("Token has expired")


def revoked_token(jwt_header, claims):
    return _rejected("Token has been revoked")


def unknown_user(jwt_header, claims):
    return _rejected("Token has been revoked")


def failed_verification(jwt_header, claims):
    return _rejected("Token verification failed")


def needs_fresh(jwt_header, claims):
    return _rejected("Fresh token required")


def register_jwt(app_or_manager):
    """Register every callback on the app's JWTManager (or on `manager` itself).

    Every flask-jwt-extended failure becomes a 401 problem (never its own 422).
    """
    manager = app_or_manager
    if not isinstance(manager, JWTManager):
        manager = app_or_manager.extensions["flask-jwt-extended"]
    manager.token_verifier(jws.verify)
    manager.claims_check(check_claims)
    manager.token_in_blocklist_loader(is_revoked)
    manager.user_lookup_loader(load_user)
    manager.unauthorized_loader(missing_token)
    manager.invalid_token_loader(invalid_token)
    manager.expired_token_loader(expired_token)
    manager.revoked_token_loader(revoked_token)
    manager.user_lookup_error_loader(unknown_user)
    manager.token_verification_failed_loader(failed_verification)
    manager.needs_fresh_token_loader(needs_fresh)
    return manager
