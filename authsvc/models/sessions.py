"""Login sessions and the refresh-token chain of each, and what "live" means.

A session is live while it is neither revoked nor expired. That rule has one
SQL form (`live_clause`) and one Python form (`is_live`), side by side here;
every query and check that means "live" uses one of them (a test holds the two
to the same answer).
"""

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, and_, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .users import User, UTCDateTime, utcnow

# RFC 8176 method references of a password login: what sessions had before `amr`.
DEFAULT_AMR = ("pwd",)


def default_amr():
    return list(DEFAULT_AMR)


class LoginSession(db.Model):
    """One login: the `sid` of every token issued for it, and its lifetime."""

    __tablename__ = "login_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    user_agent: Mapped[str | None] = mapped_column(String(255))
    ip: Mapped[str | None] = mapped_column(String(45))
    # How the user authenticated (RFC 8176 `amr` values, e.g. ["pwd"]); every
    # access token of the session carries it. The server default fills the rows
    # that existed before the column (migration 0002).
    amr: Mapped[list[str]] = mapped_column(
        JSON, default=default_amr, server_default=text("'[\"pwd\"]'")
    )

    user: Mapped[User] = relationship(back_populates="sessions")
    refresh_tokens: Mapped[list["RefreshToken"]] = relationship(
        back_populates="session", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (Index("ix_login_sessions_expires_at", "expires_at"),)


def live_clause(now):
    """SQL: the session is live at `now` (a datetime or a bind parameter)."""
    return and_(LoginSession.revoked_at.is_(None), LoginSession.expires_at > now)


def is_live(session, now):
    """Python: `session` (a LoginSession or a row with its `revoked_at` and
    `expires_at`) is live at `now`. The same rule as `live_clause`."""
    return session.revoked_at is None and session.expires_at > now


class RefreshToken(db.Model):
    """One link of a session's rotation chain, keyed by the token's `jti`."""

    __tablename__ = "refresh_tokens"

    jti: Mapped[str] = mapped_column(String(36), primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("login_sessions.id", ondelete="CASCADE"), index=True
    )
    parent_jti: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # Set once, by the refresh that rotates this token away; a second use is reuse.
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    session: Mapped[LoginSession] = relationship(back_populates="refresh_tokens")
