"""MFA rows: a user's TOTP factor, their recovery codes, and pending MFA logins.

No row holds a usable secret in the clear: the TOTP secret is encrypted
(`crypto`), recovery codes and `mfa_token`s are stored as SHA-256 digests.
"""

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .users import UTCDateTime, utcnow


class TotpFactor(db.Model):
    """A user's TOTP secret: pending until confirmed with a code, then on."""

    __tablename__ = "totp_factors"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    secret_encrypted: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The latest accepted 30 s step: only a later step is accepted (no replay).
    last_used_step: Mapped[int | None] = mapped_column(BigInteger)
    # Consecutive wrong codes; at the bound TOTP locks until a recovery code or admin reset.
    failed_attempts: Mapped[int] = mapped_column(default=0)
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RecoveryCode(db.Model):
    """One single-use recovery code, as the SHA-256 digest of its normalized form."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("user_id", "code_hash", name="uq_recovery_codes_user_code"),)


class MfaChallenge(db.Model):
    """A password login waiting for its second factor: the `mfa_token`, hashed."""

    __tablename__ = "mfa_challenges"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_attempts: Mapped[int] = mapped_column(default=0)

    __table_args__ = (Index("ix_mfa_challenges_expires_at", "expires_at"),)
