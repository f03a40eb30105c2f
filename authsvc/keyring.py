"""Each worker's in-memory copy of the signing keys, and the JWKS document.

Tokens are signed and verified from this copy alone: a token's `kid` is looked
up in a dict, never in the database, so no header value reaches SQL. The copy
is reloaded (one SELECT of every key, no parameter) when it is older than
`KEYS_REFRESH_SECONDS`, so every worker and host sees a rotation or a
revocation within that time. A kid the copy lacks (a key made by another host
a moment ago) may reload it early, but at most once per
`KEYS_MIN_REFRESH_SECONDS`: a flood of made-up kids costs one query per worker
per few seconds, whatever its size.
"""

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass

from flask import current_app
from jwt.algorithms import get_default_algorithms
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from . import keys
from .crypto import DecryptionError
from .extensions import db
from .models import SigningKey, utcnow
from .models.keys import PUBLISHED_STATES

# RFC 7638 SHA-256 thumbprints are 43 base64url characters; nothing else is a kid of ours.
KID_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")
LOAD = select(
    SigningKey.kid,
    SigningKey.alg,
    SigningKey.state,
    SigningKey.public_jwk,
    SigningKey.private_key,
    SigningKey.expires_at,
).where(SigningKey.state.in_(PUBLISHED_STATES))


@dataclass(frozen=True)
class VerifyingKey:
    kid: str
    alg: str
    state: str
    public_key: object


@dataclass(frozen=True)
class SigningKeyInUse:
    kid: str
    alg: str
    private_key: object


@dataclass(frozen=True)
class Snapshot:
    verifying: dict
    signing: SigningKeyInUse | None
    jwks_body: bytes
    jwks_etag: str


EMPTY = Snapshot(verifying={}, signing=None, jwks_body=b'{"keys":[]}', jwks_etag='"empty"')


class Keyring:
    """The keys one worker signs and verifies with; reloaded on a timer."""

    def __init__(self, refresh_seconds=30.0, min_refresh_seconds=5.0, clock=time.monotonic):
        self.refresh_seconds = refresh_seconds
        self.min_refresh_seconds = min_refresh_seconds
        self.clock = clock
        self.snapshot = EMPTY
        self.loaded_at = None  # clock reading of the last load (None: never)
        self.loads = 0  # how many times the keys were read from the database
        self._private_keys = {}  # kid -> decrypted private key, decrypted once
        self._lock = threading.Lock()

    # -- reading -------------------------------------------------------------
    def current(self):
        """The snapshot to use now, reloaded first when it is too old."""
        if self.loaded_at is None or self.clock() - self.loaded_at >= self.refresh_seconds:
            self._reload(min_age=self.refresh_seconds)
        return self.snapshot

    def ensured(self):
        """The current snapshot; the first keys are made when the database has none."""
        snapshot = self.current()
        if snapshot.signing is None:
            keys.ensure_keys()
            self._reload(min_age=0)
            snapshot = self.snapshot
        if snapshot.signing is None:
            raise RuntimeError("no current signing key")
        return snapshot

    def signing_key(self):
        """The `current` key, made on first use when the database has none."""
        return self.ensured().signing

    def verifying_key(self, kid):
        """The key named `kid`, or None; an unknown kid reloads at most every few seconds."""
        if not isinstance(kid, str) or not KID_SHAPE.fullmatch(kid):
            return None
        key = self.current().verifying.get(kid)
        if key is None:
            self._reload(min_age=self.min_refresh_seconds)
            key = self.snapshot.verifying.get(kid)
        return key

    def jwks(self):
        """The key set's JSON body and its ETag."""
        snapshot = self.ensured()
        return snapshot.jwks_body, snapshot.jwks_etag

    # -- loading -------------------------------------------------------------
    def _reload(self, min_age):
        """Reload unless another thread did within `min_age` seconds."""
        with self._lock:
            if self.loaded_at is not None and self.clock() - self.loaded_at < min_age:
                return
            rows = self._fetch()
            self.snapshot = self._build(rows)
            self.loaded_at = self.clock()
            self.loads += 1

    def _fetch(self):
        with db.engine.connect() as connection:
            return connection.execute(LOAD).all()

    def _build(self, rows):
        now = utcnow()
        verifying, published, signing = {}, [], None
        algorithms = get_default_algorithms()
        for row in rows:
            if row.state == "previous" and (row.expires_at is None or row.expires_at <= now):
                continue  # every token it signed has expired: it leaves the key set
            public_key = algorithms[row.alg].from_jwk(row.public_jwk)
            verifying[row.kid] = VerifyingKey(row.kid, row.alg, row.state, public_key)
            published.append(row.public_jwk)
            if row.state == "current":
                signing = SigningKeyInUse(row.kid, row.alg, self._private_key(row))
        # Stale decrypted keys go: a revoked key's private part leaves memory.
        live = {row.kid for row in rows if row.state == "current"}
        self._private_keys = {k: v for k, v in self._private_keys.items() if k in live}
        order = {"current": 0, "next": 1, "previous": 2}
        published.sort(key=lambda jwk: (order[verifying[jwk["kid"]].state], jwk["kid"]))
        body = json.dumps({"keys": published}, separators=(",", ":"), sort_keys=True).encode()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        return Snapshot(verifying=verifying, signing=signing, jwks_body=body, jwks_etag=etag)

    def _private_key(self, row):
        if row.kid not in self._private_keys:
            self._private_keys[row.kid] = keys.load_private_key(row)
        return self._private_keys[row.kid]


def prepare_keys(quiet=False):
    """Reload the keys when due, and make the first ones if there are none.

    Run when the app is made and before each view, so the first key's INSERT
    (a transaction of its own) never waits inside a use case's transaction:
    SQLite allows one writer, and a registration holding its user's INSERT
    would wait on itself. A database that cannot answer yet (not migrated, or
    down) is left to the view, which answers for itself (e.g. /health's 503).
    """
    try:
        keyring().ensured()
    except SQLAlchemyError:
        if not quiet:
            current_app.logger.warning("signing keys unavailable", exc_info=True)
    except DecryptionError:
        current_app.logger.error(
            "the current signing key opens with neither SECRET_KEY nor SECRET_KEY_FALLBACKS"
        )


def init_app(app):
    """Give the app its keyring (one per worker process, as each has its own app)."""
    app.extensions["authsvc.keyring"] = Keyring(
        refresh_seconds=app.config["KEYS_REFRESH_SECONDS"],
        min_refresh_seconds=app.config["KEYS_MIN_REFRESH_SECONDS"],
    )
    # SQLite allows one writer: make the first keys now, before any use case
    # (a registration, a CLI command) holds a write transaction they would wait
    # on. Elsewhere the first request makes them. (`flask db upgrade` on an empty
    # database has nothing to read yet: quietly nothing.)
    if make_url(app.config["SQLALCHEMY_DATABASE_URI"]).get_backend_name() == "sqlite":
        with app.app_context():
            prepare_keys(quiet=True)


def keyring():
    return current_app.extensions["authsvc.keyring"]
