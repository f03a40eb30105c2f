"""Session use cases: start, rotate with reuse detection, end one or all, list, prune.

Revocation is per session: every token carries its session id (`sid`), and a
token is live only while its session is live (`models.live_clause`,
`models.is_live`) and its user active. That makes logout and logout-all one
UPDATE each, and the per-request check (`jwt_callbacks.is_revoked`) one
indexed lookup that also loads the user.

Use cases return what happened (`SessionStarted`, `Rotation`, counts); they
never write request state.
"""

from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import bindparam, delete, insert, select, update

from . import audit, tokens
from .errors import TokenRejected
from .extensions import db
from .models import (
    DEFAULT_AMR,
    LoginSession,
    MfaChallenge,
    RefreshToken,
    User,
    live_clause,
    utcnow,
)

REUSE_DETECTED = "Refresh token reuse detected; the session has been revoked"
REVOKED = "Token has been revoked"


@dataclass(frozen=True)
class Client:
    """Where a request came from, as recorded on its session."""

    ip: str | None
    user_agent: str | None

    @classmethod
    def from_request(cls, request):
        agent = "".join(ch for ch in request.headers.get("User-Agent", "") if ch.isprintable())
        return cls(ip=request.remote_addr, user_agent=agent[:255] or None)


@dataclass(frozen=True)
class SessionStarted:
    session_id: str
    tokens: dict


@dataclass(frozen=True)
class Rotation:
    """A refresh's outcome: the next pair, or (`reuse_detected`) a revoked session."""

    session_id: str
    tokens: dict | None
    reuse_detected: bool = False


NEW_LINK = insert(RefreshToken)


def _add_link(session_id, user_id, amr, expires_at, now, parent_jti=None):
    """Issue the next token pair of a session and record its refresh token in the chain."""
    issued = tokens.issue_pair(user_id, session_id, amr, expires_at, now)
    db.session.connection().execute(
        NEW_LINK,
        {
            "jti": issued.refresh_jti,
            "session_id": session_id,
            "parent_jti": parent_jti,
            "created_at": now,
            "expires_at": expires_at,
        },
    )
    return issued.tokens


def start(user, client, amr=DEFAULT_AMR):
    """Open a session for `user`, authenticated by the methods `amr` (caller commits)."""
    now = utcnow()
    days = current_app.config["REFRESH_TOKEN_EXPIRE_DAYS"]
    session = LoginSession(
        id=tokens.new_session_id(),
        user_id=user.id,
        created_at=now,
        last_used_at=now,
        expires_at=now + timedelta(days=days),
        ip=client.ip,
        user_agent=client.user_agent,
        amr=list(amr),
    )
    db.session.add(session)
    db.session.flush()
    pair = _add_link(session.id, user.id, session.amr, session.expires_at, now)
    return SessionStarted(session_id=session.id, tokens=pair)


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
        live_clause(bindparam("now")),
        select(User.id).where(User.id == LoginSession.user_id, User.is_active.is_(True)).exists(),
    )
    .values(last_used_at=bindparam("now"), ip=bindparam("client_ip"), user_agent=bindparam("agent"))
    .returning(LoginSession.expires_at, LoginSession.amr)
)


def rotate(claims, client):
    """Retire the presented refresh token and issue the next pair; commits.

    The retirement is a compare-and-set (`UPDATE ... WHERE rotated_at IS NULL`),
    so of N concurrent uses exactly one wins, on SQLite and PostgreSQL alike.
    Any use of an already-rotated token is reuse: the session is revoked and
    the result says so. The winner then touches the session only while it is
    live and its user active (one UPDATE ... RETURNING), and adds the next link
    of the chain, with the session's `amr`.
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
            _revoke(LoginSession.id == sid)
            db.session.commit()
            audit.failure("token.reuse_detected", user_id=user_id, session_id=sid)
            return Rotation(session_id=sid, tokens=None, reuse_detected=True)
        raise TokenRejected(REVOKED)

    live = connection.execute(
        TOUCH_LIVE_SESSION,
        {
            "sid": sid,
            "owner_id": user_id,
            "now": now,
            "client_ip": client.ip,
            "agent": client.user_agent,
        },
    ).first()
    if live is None:
        db.session.rollback()
        raise TokenRejected(REVOKED)
    pair = _add_link(sid, user_id, live.amr, live.expires_at, now, parent_jti=jti)
    db.session.commit()
    audit.record("token.refresh", user_id=user_id, session_id=sid)
    return Rotation(session_id=sid, tokens=pair)


# The owner of a session, if active. Sessions are found by primary key only
# (see jwt_callbacks.SESSION_AND_USER); the owner is compared in Python.
SESSION_OWNER = (
    select(LoginSession.user_id)
    .join(User, User.id == LoginSession.user_id)
    .where(LoginSession.id == bindparam("sid"), User.is_active.is_(True))
)


def logout(claims):
    """End the session of a verified refresh token; commits and returns its id.

    Repeating a logout is harmless, but the session must still exist and its
    user be active: a deleted or deactivated user's token is refused.
    """
    sid, user_id = claims["sid"], int(claims["sub"])
    owner = db.session.execute(SESSION_OWNER, {"sid": sid}).scalar_one_or_none()
    if owner != user_id:
        raise TokenRejected(REVOKED)
    revoked = _revoke(LoginSession.id == sid)
    db.session.commit()
    audit.record("logout", user_id=user_id, session_id=sid, sessions_revoked=revoked)
    return sid


def logout_all(user_id, current_sid=None):
    """End every live session of a user (from session `current_sid`); commits, returns how many."""
    count = revoke_all_sessions(user_id)
    db.session.commit()
    audit.record("logout_all", user_id=user_id, session_id=current_sid, sessions_revoked=count)
    return count


def end_own_session(user_id, sid):
    """End one of a user's live sessions; commits and returns whether it was live."""
    if not tokens.is_session_id(sid) or not _revoke(
        LoginSession.id == sid, LoginSession.user_id == user_id
    ):
        db.session.rollback()
        return False
    db.session.commit()
    audit.record("session.revoke", user_id=user_id, session_id=sid)
    return True


def list_sessions(user_id):
    """A user's live sessions, newest first."""
    query = (
        select(LoginSession)
        .where(LoginSession.user_id == user_id, live_clause(utcnow()))
        .order_by(LoginSession.created_at.desc(), LoginSession.id.desc())
    )
    return db.session.execute(query).scalars().all()


def _revoke(*conditions):
    """Revoke the live sessions matching `conditions` (caller commits); return how many."""
    now = utcnow()
    return db.session.execute(
        update(LoginSession)
        .where(*conditions, live_clause(now))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount


def revoke_all_sessions(user_id, *, keep_sid=None):
    """End every live session of a user, but `keep_sid`; return how many (caller commits).

    The user's pending MFA logins end too (`end_pending_mfa_logins`): each is a
    session waiting for its code, begun elsewhere, so never the one kept.
    """
    conditions = [LoginSession.user_id == user_id]
    if keep_sid is not None:
        conditions.append(LoginSession.id != keep_sid)
    end_pending_mfa_logins(user_id)
    return _revoke(*conditions)


def end_pending_mfa_logins(user_id):
    """End the user's MFA logins still waiting for a code (caller commits).

    An `mfa_token` proves the password: one issued before an "end every
    session" (logout-all, a password change, a deactivation, an admin's
    revocation, MFA turned on or off) must not finish a login after it. The
    challenges are marked spent, not deleted, so a second step with such a
    token still counts against the account's rate limit.
    """
    db.session.execute(
        update(MfaChallenge)
        .where(MfaChallenge.user_id == user_id, MfaChallenge.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def prune_expired():
    """Delete expired sessions and refresh-token rows; commits and returns (sessions, tokens).

    Revoked rows stay until they expire: deleting one early would make its
    tokens unknown instead of revoked, and so turn reuse into a plain refusal.
    """
    now = utcnow()
    tokens_pruned = db.session.execute(
        delete(RefreshToken).where(RefreshToken.expires_at <= now)
    ).rowcount
    sessions_pruned = db.session.execute(
        delete(LoginSession).where(LoginSession.expires_at <= now)
    ).rowcount
    db.session.commit()
    return sessions_pruned, tokens_pruned
