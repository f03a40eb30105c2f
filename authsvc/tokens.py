"""Access and refresh tokens: what they carry, issuing a pair, decoding a refresh token.

Nothing here writes a session: the session use cases (`sessions`) record the
refresh token's `jti` in the session's rotation chain. How tokens are signed
and verified (which key, which algorithm) is `jws`'s business.
"""

import uuid
from dataclasses import dataclass

from flask import current_app
from flask_jwt_extended import decode_token
from flask_jwt_extended.exceptions import WrongTokenError

from . import jws
from .errors import TokenMissing

# The claims every token carries (access tokens also carry `amr`).
REQUIRED_CLAIMS = ("sub", "jti", "iat", "exp", "type", "sid")


@dataclass(frozen=True)
class IssuedPair:
    """A signed token pair as the API returns it, and the refresh token's `jti`."""

    tokens: dict
    refresh_jti: str


def issue_pair(user_id, session_id, amr, expires_at, now):
    """Sign an access and a refresh token for a session that lasts until `expires_at`.

    The access token lives `JWT_ACCESS_TOKEN_EXPIRES`, never past its session,
    and is signed by the current signing key (`jws.sign_access`); the refresh
    token lives as long as the session, signed with a secret never published.
    """
    config = current_app.config
    access_ttl = min(config["JWT_ACCESS_TOKEN_EXPIRES"], expires_at - now)
    issued_at = int(now.timestamp())
    common = {
        "sub": str(user_id),
        "sid": session_id,
        "iat": issued_at,
        "iss": config["JWT_ISSUER"],
        "aud": config["JWT_AUDIENCE"],
    }
    access = jws.sign_access(
        {
            **common,
            "jti": str(uuid.uuid4()),
            "type": "access",
            "amr": list(amr),
            "exp": issued_at + int(access_ttl.total_seconds()),
        }
    )
    refresh_jti = str(uuid.uuid4())
    refresh = jws.sign_refresh(
        {**common, "jti": refresh_jti, "type": "refresh", "exp": int(expires_at.timestamp())}
    )
    pair = {
        "access_token": access,
        "refresh_token": refresh,
        "token_type": "bearer",
        "expires_in": int(access_ttl.total_seconds()),
    }
    return IssuedPair(tokens=pair, refresh_jti=refresh_jti)


def decode_refresh_token(encoded):
    """Verify a refresh token's signature, claims and type; return its claims."""
    if not encoded:
        raise TokenMissing("Missing refresh token")
    claims = decode_token(encoded)
    if claims["type"] != "refresh":
        raise WrongTokenError("Only refresh tokens are allowed")
    return claims


def new_session_id():
    return uuid.uuid4().hex


def is_user_id(value):
    """Whether `value` is a user id as issued: decimal, no leading zero, within 64 bits."""
    return value.isascii() and value.isdigit() and value[0] != "0" and len(value) <= 18


def is_session_id(value):
    """Whether `value` has the shape of a session id (32 lower-case hex digits)."""
    return len(value) == 32 and all(ch in "0123456789abcdef" for ch in value)
