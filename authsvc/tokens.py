"""Sessions and tokens: issue, rotate with reuse detection, revoke, check, prune.

Revocation is per session: every token carries its session id (`sid`), and a
token is live only while its session row is live and its user is active. That
makes logout and logout-all one UPDATE each, and the per-request check one
indexed lookup that also loads the user.
"""

import uuid
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app, g, request
from flask_jwt_extended import create_access_token, create_refresh_token, decode_token
from flask_jwt_extended.exceptions import JWTDecodeError, WrongTokenError
from sqlalchemy import bindparam, delete, insert, select, update

from . import audit, web
from .errors import TokenMissing, TokenRejected, bearer_challenge, problem
from .extensions import db, jwt
from .models import LoginSession, RefreshToken, User, utcnow

REQUIRED_CLAIMS = ("sub", "jti", "iat", "exp", "type", "sid")


@dataclass(frozen=True)
class Client:
    """Where a request came from, as recorded on its session."""

    ip: str | None
    user_agent: str | None

    @classmethod
    def from_request(cls, request):
        agent = "".join(ch for ch in request.headers.get("User-Agent", "") if ch.isprintable())
        return cls(ip=request.remote_addr, user_agent=agent[:255] or None)


NEW_LINK = insert(RefreshToken)


def _new_pair(session_id, user_id, expires_at, parent_jti=None):
    """Add a refresh-token row for a session and return the signed token pair."""
    now = utcnow()
    config = current_app.config
    access_ttl = min(config["JWT_ACCESS_TOKEN_EXPIRES"], expires_at - now)
    refresh_jti = str(uuid.uuid4())
    identity = str(user_id)
    claims = {"sid": session_id}
    access = create_access_token(identity, additional_claims=claims, expires_delta=access_ttl)
    refresh = create_refresh_token(
        identity,
        additional_claims={**claims, "jti": refresh_jti},
        expires_delta=expires_at - now,
    )
    db.session.connection().execute(
        NEW_LINK,
        {
            "jti": refresh_jti,
            "session_id": session_id,
            "parent_jti": parent_jti,
            "created_at": now,
            "expires_at": expires_at,
        },
    )
    return {
        "access_token": access,
        "refresh_token": refresh,
        "token_type": "bearer",
        "expires_in": int(access_ttl.total_seconds()),
    }


def new_session_id():
    return uuid.uuid4().hex


def is_user_id(value):
    """Whether `value` is a user id as issued: decimal, no leading zero, within 64 bits."""
    return value.isascii() and value.isdigit() and value[0] != "0" and len(value) <= 18


def is_session_id(value):
    """Whether `value` has the shape of a session id (32 lower-case hex digits)."""
    return len(value) == 32 and all(ch in "0123456789abcdef" for ch in value)


def start_session(user, client):
    """Open a session for `user` and return its first token pair (caller commits)."""
    now = utcnow()
    days = current_app.config["REFRESH_TOKEN_EXPIRE_DAYS"]
    session = LoginSession(
        id=new_session_id(),
        user_id=user.id,
        created_at=now,
        last_used_at=now,
        expires_at=now + timedelta(days=days),
        ip=client.ip,
        user_agent=client.user_agent,
    )
    db.session.add(session)
    db.session.flush()
    pair = _new_pair(session.id, user.id, session.expires_at)
    g.session_id = session.id
    return pair


def decode_refresh_token(encoded):
    """Verify a refresh token's signature, claims and type; return its claims."""
    if not encoded:
        raise TokenMissing("Missing refresh token")
    claims = decode_token(encoded)
    if claims["type"] != "refresh":
        raise WrongTokenError("Only refresh tokens are allowed")
    return claims


# The refresh path's statements, built once (see `rotate`).
RETIRE = (
    update(RefreshToken)
    .where(
        RefreshToken.jti == bindparam("token_jti"),
        RefreshToken.session_id == bindparam("sid"),
        RefreshToken.rotated_at.is_(None),
    )
    .values(rotated_at=bindparam("now"))
)
TOUCH_LIVE_SESSION = (
    update(LoginSession)
    .where(
        LoginSession.id == bindparam("sid"),
        LoginSession.user_id == bindparam("owner_id"),
        LoginSession.revoked_at.is_(None),
        LoginSession.expires_at > bindparam("now"),
        select(User.id).where(User.id == LoginSession.user_id, User.is_active.is_(True)).exists(),
    )
    .values(last_used_at=bindparam("now"), ip=bindparam("client_ip"), user_agent=bindparam("agent"))
    .returning(LoginSession.expires_at)
)


def rotate(claims, client):
    """Retire the presented refresh token and issue the next pair; commits.

    The retirement is a compare-and-set (`UPDATE ... WHERE rotated_at IS NULL`),
    so of N concurrent uses exactly one wins, on SQLite and PostgreSQL alike.
    Any use of an already-rotated token is reuse: the session is revoked.
    The winner then touches the session only while it is live and its user
    active (one UPDATE ... RETURNING), and adds the next link of the chain.
    """
    now = utcnow()
    jti, sid, user_id = claims["jti"], claims["sid"], int(claims["sub"])
    # Plain statements on the session's connection (and transaction): the ORM's
    # bulk-update path would only look for loaded objects to update, and finds none.
    connection = db.session.connection()
    won = connection.execute(RETIRE, {"token_jti": jti, "sid": sid, "now": now}).rowcount
    if won != 1:
        db.session.rollback()
        if db.session.get(RefreshToken, jti) is not None:
            revoke_session_by_id(sid)
            db.session.commit()
            g.reuse_detected = True
            audit.failure("token.reuse_detected", user_id=user_id, session_id=sid)
            raise TokenRejected("Refresh token reuse detected; the session has been revoked")
        raise TokenRejected("Token has been revoked")

    expires_at = connection.execute(
        TOUCH_LIVE_SESSION,
        {
            "sid": sid,
            "owner_id": user_id,
            "now": now,
            "client_ip": client.ip,
            "agent": client.user_agent,
        },
    ).scalar_one_or_none()
    if expires_at is None:
        db.session.rollback()
        raise TokenRejected("Token has been revoked")
    pair = _new_pair(sid, user_id, expires_at, parent_jti=jti)
    db.session.commit()
    g.session_id = sid
    audit.record("token.refresh", user_id=user_id, session_id=sid)
    return pair


# The owner of a session, if active. Sessions are found by primary key only
# (see SESSION_AND_USER); the owner is compared in Python.
SESSION_OWNER = (
    select(LoginSession.user_id)
    .join(User, User.id == LoginSession.user_id)
    .where(LoginSession.id == bindparam("sid"), User.is_active.is_(True))
)


def logout(claims):
    """End the session of a verified refresh token; commits.

    Repeating a logout is harmless, but the session must still exist and its
    user be active: a deleted or deactivated user's token is refused.
    """
    sid, user_id = claims["sid"], int(claims["sub"])
    owner = db.session.execute(SESSION_OWNER, {"sid": sid}).scalar_one_or_none()
    if owner != user_id:
        raise TokenRejected("Token has been revoked")
    revoked = revoke_session_by_id(sid)
    db.session.commit()
    g.session_id = sid
    audit.record("logout", user_id=user_id, session_id=sid, sessions_revoked=revoked)


def logout_all(user_id):
    """End every live session of a user; commits and returns how many there were."""
    count = revoke_all_sessions(user_id)
    db.session.commit()
    audit.record("logout_all", user_id=user_id, sessions_revoked=count)
    return count


def end_own_session(user_id, sid):
    """End one of a user's live sessions; commits and returns whether it was live."""
    if not is_session_id(sid) or not revoke_session(user_id, sid):
        db.session.rollback()
        return False
    db.session.commit()
    audit.record("session.revoke", user_id=user_id, session_id=sid)
    return True


def live_sessions_query(user_id):
    now = utcnow()
    return select(LoginSession).where(
        LoginSession.user_id == user_id,
        LoginSession.revoked_at.is_(None),
        LoginSession.expires_at > now,
    )


def list_sessions(user_id):
    query = live_sessions_query(user_id).order_by(
        LoginSession.created_at.desc(), LoginSession.id.desc()
    )
    return db.session.execute(query).scalars().all()


def _revoke(*conditions):
    now = utcnow()
    return db.session.execute(
        update(LoginSession)
        .where(*conditions, LoginSession.revoked_at.is_(None), LoginSession.expires_at > now)
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount


def revoke_session_by_id(sid):
    """End one session whoever owns it (caller commits); return 1 if it was live."""
    return _revoke(LoginSession.id == sid)


def revoke_session(user_id, sid):
    """End one of `user_id`'s sessions (caller commits); return 1 if it was live."""
    return _revoke(LoginSession.id == sid, LoginSession.user_id == user_id)


def revoke_all_sessions(user_id, *, keep_sid=None):
    """End every live session of a user, but `keep_sid`; return how many (caller commits)."""
    conditions = [LoginSession.user_id == user_id]
    if keep_sid is not None:
        conditions.append(LoginSession.id != keep_sid)
    return _revoke(*conditions)


def prune_expired():
    """Delete expired sessions and refresh-token rows; return (sessions, tokens)."""
    now = utcnow()
    tokens = db.session.execute(delete(RefreshToken).where(RefreshToken.expires_at <= now)).rowcount
    sessions = db.session.execute(
        delete(LoginSession).where(LoginSession.expires_at <= now)
    ).rowcount
    db.session.commit()
    return sessions, tokens


# --- flask-jwt-extended callbacks -------------------------------------------


@jwt.claims_check
def check_claims(claims):
    """Refuse a verified token lacking a claim the contract requires, or of a shape never issued."""
    for claim in REQUIRED_CLAIMS:
        if claim not in claims:
            raise JWTDecodeError(f"Missing claim: {claim}")
    if claims["type"] not in ("access", "refresh"):
        raise JWTDecodeError("Unknown token type")
    # Shapes of what we issue: a decimal user id, a session id (never raw input
    # for the database, whoever holds the key).
    subject, sid = claims["sub"], claims["sid"]
    if not (isinstance(subject, str) and is_user_id(subject)):
        raise JWTDecodeError("Invalid claim: sub")
    if not (isinstance(sid, str) and is_session_id(sid)):
        raise JWTDecodeError("Invalid claim: sid")


# What a request may read of its caller: never the password hash.
PRINCIPAL = (
    User.id,
    User.email,
    User.username,
    User.full_name,
    User.is_active,
    User.is_admin,
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


@jwt.token_in_blocklist_loader
def is_revoked(jwt_header, claims):
    """One indexed lookup: the token's session is live and its user active.

    The check reads a plain row on a connection of its own (`web.lookup_engine`),
    not ORM objects through the request's session (that saves ~120 µs, a fifth of an
    authenticated request). The user's row is kept for `user_lookup_loader`, so an
    authenticated request costs a single query.
    """
    sid = claims["sid"]
    with web.lookup_engine().connect() as connection:
        row = connection.execute(SESSION_AND_USER, {"sid": sid}).first()
    if (
        row is None
        or row.id != int(claims["sub"])
        or row.revoked_at is not None
        or row.expires_at <= utcnow()
        or not row.is_active
    ):
        return True
    g.authenticated_user = row
    g.session_id = sid
    return False


@jwt.user_lookup_loader
def load_user(jwt_header, claims):
    """The caller as a read-only row (`current_user.id`, `.is_admin`, ...).

    A view that changes the caller loads them as a model (`caller_for_update`).
    """
    return g.get("authenticated_user")


def caller_for_update():
    """The calling user as a model to change, or 401 if they went away meanwhile."""
    user = db.session.get(User, g.authenticated_user.id)
    if user is None or not user.is_active:
        raise TokenRejected("Token has been revoked")
    return user


def register_jwt_error_loaders(manager):
    """Every flask-jwt-extended failure becomes a 401 problem (never its own 422)."""

    def rejected(detail):
        return problem(401, detail, headers={"WWW-Authenticate": bearer_challenge(True)})

    @manager.unauthorized_loader
    def missing_token(reason):
        # Another scheme (Basic, ...) is no Bearer token: RFC 6750 wants no error code.
        scheme = request.headers.get("Authorization", "").strip().partition(" ")[0]
        sent = scheme.lower() == "bearer"
        detail = "Malformed Authorization header" if sent else "Missing access token"
        return problem(401, detail, headers={"WWW-Authenticate": bearer_challenge(sent)})

    @manager.invalid_token_loader
    def invalid_token(reason):
        return rejected(f"Invalid token: {reason}")

    @manager.expired_token_loader
    def expired_token(jwt_header, claims):
        return rejected("Token has expired")

    @manager.revoked_token_loader
    def revoked_token(jwt_header, claims):
        return rejected("Token has been revoked")

    @manager.user_lookup_error_loader
    def unknown_user(jwt_header, claims):
        return rejected("Token has been revoked")

    @manager.token_verification_failed_loader
    def failed_verification(jwt_header, claims):
        return rejected("Token verification failed")

    @manager.needs_fresh_token_loader
    def needs_fresh(jwt_header, claims):
        return rejected("Fresh token required")
