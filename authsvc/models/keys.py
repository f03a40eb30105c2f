"""Signing keys of access tokens (table `signing_keys`)."""

from datetime import datetime

from sqlalchemy import JSON, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .users import UTCDateTime, utcnow

# A key's life: `next` (published, not yet signing) -> `current` (signing;
# exactly one) -> `previous` (published, still verifying until `expires_at`).
# `revoked` withdraws a key at once, from any state.
PUBLISHED_STATES = ("next", "current", "previous")


class SigningKey(db.Model):
    """An asymmetric key that signs access tokens; its private part encrypted at rest."""

    __tablename__ = "signing_keys"

    # RFC 7638 JWK thumbprint (SHA-256, base64url): 43 characters.
    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    # PKCS#8 PEM, sealed by `crypto.encrypt(..., "signing-keys")`.
    private_key: Mapped[str] = mapped_column(Text)
    # The public JWK as published (kty, crv/x/y or n/e, kid, alg, use).
    public_jwk: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A `previous` key verifies (and is published) until then: by that time
    # every token it signed has expired.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        # At most one `current` and one `next` key, whoever races to create
        # them (several workers making the first key at once).
        Index(
            "uq_signing_keys_current",
            "state",
            unique=True,
            sqlite_where=text("state = 'current'"),
            postgresql_where=text("state = 'current'"),
        ),
        Index(
            "uq_signing_keys_next",
            "state",
            unique=True,
            sqlite_where=text("state = 'next'"),
            postgresql_where=text("state = 'next'"),
        ),
    )
