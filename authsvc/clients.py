"""Introspection clients: resource servers that may ask whether a token is live.

A client authenticates with HTTP Basic `client_id:client_secret`. The secret
is 256 random bits, shown once; only its SHA-256 is stored. (A secret that
strong cannot be guessed from its hash, so a slow password hash would only
slow down every introspection call.)
"""

import hashlib
import hmac
import secrets

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from .extensions import db
from .models import IntrospectionClient

CLIENT_ID_PREFIX = "rs_"
# Compared against when the client id is unknown, so both answers take as long.
_DUMMY_HASH = hashlib.sha256(b"no such client").hexdigest()
# Built once: introspection runs it on every call.
SECRET_HASH = select(IntrospectionClient.secret_hash).where(
    IntrospectionClient.client_id == bindparam("client_id")
)


def hash_secret(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


def create(name):
    """Register a client; returns (client_id, client_secret): the secret, this once."""
    name = (name or "").strip()
    if not name or len(name) > 100 or not name.isprintable():
        raise ValueError("a client name has 1 to 100 printable characters")
    client_id = CLIENT_ID_PREFIX + secrets.token_urlsafe(16)
    secret = secrets.token_urlsafe(32)
    with Session(db.engine) as session:
        session.add(
            IntrospectionClient(client_id=client_id, name=name, secret_hash=hash_secret(secret))
        )
        session.commit()
    return client_id, secret


def list_clients():
    with Session(db.engine) as session:
        rows = session.scalars(select(IntrospectionClient).order_by(IntrospectionClient.id))
        return list(rows)


def delete_client(client_id):
    """Remove a client; returns whether it existed."""
    with Session(db.engine) as session:
        done = session.execute(
            delete(IntrospectionClient).where(IntrospectionClient.client_id == client_id)
        )
        session.commit()
        return done.rowcount == 1


def authenticate(client_id, secret):
    """The client's id when `secret` is its secret, else None (in about the same time)."""
    if not (isinstance(client_id, str) and isinstance(secret, str)):
        return None
    if not client_id or len(client_id) > 64 or len(secret) > 256:
        return None
    with db.engine.connect() as connection:
        stored = connection.execute(SECRET_HASH, {"client_id": client_id}).scalar()
    matched = hmac.compare_digest(hash_secret(secret), stored or _DUMMY_HASH)
    return client_id if stored is not None and matched else None
