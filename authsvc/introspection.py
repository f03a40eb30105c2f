"""Introspection (RFC 7662) and revocation (RFC 7009) of authsvc's tokens.

A token is active when its signature verifies with a key authsvc still
trusts, it has not expired, its session is live, its user exists and is
active, and (a refresh token) it has not been rotated away. Anything else,
malformed input included, is `{"active": false}` and nothing more: a caller
learns no reason.
"""

import jwt as pyjwt
from flask import current_app
from flask_jwt_extended.exceptions import JWTDecodeError
from sqlalchemy import bindparam, select

from . import jws, sessions
from .database import lookup_engine
from .jwt_callbacks import check_claims
from .models import LoginSession, RefreshToken, User, is_live, utcnow

INACTIVE = {"active": False}
TOKEN_TYPES = {"access": "access_token", "refresh": "refresh_token"}

SESSION_STATE = (
    select(
        User.id,
        User.username,
        User.is_active,
        LoginSession.revoked_at,
        LoginSession.expires_at,
        LoginSession.amr,
    )
    .join(LoginSession, LoginSession.user_id == User.id)
    .where(LoginSession.id == bindparam("sid"))
)
REFRESH_LINK = select(RefreshToken.session_id, RefreshToken.rotated_at).where(
    RefreshToken.jti == bindparam("jti")
)


def verified_claims(encoded, allow_expired=False):
    """The claims of a token authsvc signed, whose kind matches its `type`; else None."""
    config = current_app.config
    try:
        kind, claims = jws.verify(
            encoded,
            issuer=config["JWT_ISSUER"],
            audience=config["JWT_AUDIENCE"],
            leeway=config["JWT_DECODE_LEEWAY"],
            allow_expired=allow_expired,
        )
        check_claims(claims)
    except (pyjwt.InvalidTokenError, JWTDecodeError, ValueError, TypeError):
        return None
    return claims if claims["type"] == kind else None


def introspect(encoded):
    """RFC 7662's answer for `encoded` (any `token_type_hint` is only a hint: both kinds work)."""
    claims = verified_claims(encoded)
    if claims is None:
        return dict(INACTIVE)
    with lookup_engine().connect() as connection:
        row = connection.execute(SESSION_STATE, {"sid": claims["sid"]}).first()
        link = None
        if claims["type"] == "refresh":
            link = connection.execute(REFRESH_LINK, {"jti": claims["jti"]}).first()
    if (
        row is None
        or row.id != int(claims["sub"])
        or not row.is_active
        or not is_live(row, utcnow())
    ):
        return dict(INACTIVE)
    if claims["type"] == "refresh" and (
        link is None or link.session_id != claims["sid"] or link.rotated_at is not None
    ):
        return dict(INACTIVE)
    return {
        "active": True,
        "sub": claims["sub"],
        "sid": claims["sid"],
        "exp": claims["exp"],
        "iat": claims["iat"],
        "iss": claims["iss"],
        "aud": claims["aud"],
        "jti": claims["jti"],
        "token_type": TOKEN_TYPES[claims["type"]],
        "username": row.username,
        "amr": list(claims.get("amr") or row.amr),
    }


def revoke(encoded):
    """End the session of a live access or refresh token; anything else changes nothing.

    Returns whether a live session ended (the endpoint answers 200 either way).
    """
    claims = verified_claims(encoded)
    if claims is None:
        return False
    return sessions.end_own_session(int(claims["sub"]), claims["sid"])
