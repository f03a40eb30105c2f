"""Passkeys (WebAuthn credentials) and the one-time challenges of their ceremonies."""

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .users import UTCDateTime, utcnow


def no_transports():
    return []


class Passkey(db.Model):
    """A user's WebAuthn credential: what later assertions are verified against."""

    __tablename__ = "passkeys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # The authenticator's credential id (raw bytes; at most 1023 by WebAuthn
    # Level 3). Unique across all users: a credential belongs to one user.
    credential_id: Mapped[bytes] = mapped_column(LargeBinary(1023), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # COSE_Key, as registered
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    # The `user.id` the authenticator stores with a discoverable credential
    # (random bytes, never the database id); a login's `userHandle` must match it.
    user_handle: Mapped[bytes] = mapped_column(LargeBinary(64))
    transports: Mapped[list[str]] = mapped_column(JSON, default=no_transports)
    backup_eligible: Mapped[bool] = mapped_column(default=False)
    backed_up: Mapped[bool] = mapped_column(default=False)
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PasskeyChallenge(db.Model):
    """A challenge handed out by an options call; spent once, dead after 5 minutes.

    Found by the SHA-256 of the challenge the authenticator signed (its
    `clientDataJSON` carries it), so clients send nothing else to name it.
    """

    __tablename__ = "passkey_challenges"

    challenge_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))  # "register", "login" or "login-named"
    # Register: the user registering. Login: NULL (any discoverable passkey).
    # Login-named: the account the name found, NULL when it found none (no passkey answers).
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    user_handle: Mapped[bytes | None] = mapped_column(LargeBinary(64))
    name: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
