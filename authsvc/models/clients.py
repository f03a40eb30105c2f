"""Clients of the introspection endpoint (table `oauth_clients`)."""

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .users import UTCDateTime, utcnow


class IntrospectionClient(db.Model):
    """A resource server allowed to call the introspection endpoint (HTTP Basic)."""

    __tablename__ = "oauth_clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    # SHA-256 of a 256-bit random secret (hex): a secret that strong needs no
    # slow hash, and introspection runs on every call of a resource server.
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
