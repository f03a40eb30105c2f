"""The per-worker keyring: reload timing, unknown kids, the JWKS document."""

import json
import secrets
from datetime import timedelta

import pytest
from sqlalchemy import delete, event, update

from authsvc import keys
from authsvc.extensions import db
from authsvc.keyring import Keyring
from authsvc.models import SigningKey, utcnow

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi"}


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def app_settings():
    return {"JWT_ALGORITHM": "ES256"}


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def ring(app, clock):
    """A fresh keyring over a database without keys (as before a first start)."""
    with app.app_context():
        db.session.execute(delete(SigningKey))
        db.session.commit()
        yield Keyring(refresh_seconds=30, min_refresh_seconds=5, clock=clock)


@pytest.fixture
def statements(app):
    """Every SQL statement and its parameters, as the database driver gets them."""
    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, repr(parameters)))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def test_first_signing_key_is_made_on_first_use(ring):
    signing = ring.signing_key()
    assert signing.alg == "ES256"
    assert ring.verifying_key(signing.kid).state == "current"
    assert len(ring.current().verifying) == 2  # current and next, both published


def test_jwks_publishes_next_and_current_without_private_members(ring):
    ring.signing_key()
    body, etag = ring.jwks()
    document = json.loads(body)
    assert [key["kid"] for key in document["keys"]] == [
        ring.signing_key().kid,
        *[kid for kid, key in ring.current().verifying.items() if key.state == "next"],
    ]
    for key in document["keys"]:
        assert key["use"] == "sig" and key["alg"] == "ES256" and key["kty"] == "EC"
        assert not PRIVATE_MEMBERS & set(key)
    assert etag.startswith('"') and ring.jwks()[1] == etag


def test_a_rotation_elsewhere_is_seen_once_the_refresh_interval_passes(ring, clock):
    before = ring.signing_key().kid
    _, etag = ring.jwks()
    rotation = keys.rotate()  # as another host or the CLI would
    clock.now += 29
    assert ring.signing_key().kid == before  # still within the interval
    clock.now += 1
    assert ring.signing_key().kid == rotation.current
    assert ring.verifying_key(before).state == "previous"  # old tokens still verify
    assert ring.jwks()[1] != etag


def test_a_revoked_key_leaves_the_ring_at_the_next_refresh(ring, clock):
    first = ring.signing_key().kid
    keys.revoke(first)
    clock.now += 30
    assert ring.verifying_key(first) is None
    assert ring.signing_key().kid != first
    assert first not in ring.jwks()[0].decode()


def test_a_previous_key_leaves_once_its_tokens_have_expired(app, ring, clock):
    first = ring.signing_key().kid
    keys.rotate()
    clock.now += 30
    assert ring.verifying_key(first) is not None  # control: still verifying
    with app.app_context():
        db.session.execute(
            update(SigningKey)
            .where(SigningKey.kid == first)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
    clock.now += 30
    assert ring.verifying_key(first) is None
    assert first not in ring.jwks()[0].decode()


def test_an_unknown_kid_reloads_early_at_most_once_per_interval(ring, clock):
    ring.signing_key()
    loads = ring.loads
    # A key made by another host a moment ago: found by an early reload (control).
    fresh = keys.rotate().next
    clock.now += 5
    assert ring.verifying_key(fresh) is not None
    assert ring.loads == loads + 1
    # A flood of made-up kids of the right shape: no further reload until 5 s pass.
    for _ in range(10_000):
        assert ring.verifying_key(secrets.token_urlsafe(32)) is None
    assert ring.loads == loads + 1
    clock.now += 5
    ring.verifying_key(secrets.token_urlsafe(32))
    assert ring.loads == loads + 2


INJECTIONS = [
    "' OR '1'='1",
    "../../../../etc/passwd",
    "x" * 100_000,
    "kid\r\nX-Injected: 1",
    "\x00",
    "",
    "%s%s%n",
    "A" * 42 + "'",
    12345,
    None,
    ["a"],
    {"$ne": 1},
]


@pytest.mark.parametrize("kid", INJECTIONS, ids=range(len(INJECTIONS)))
def test_kid_values_of_any_shape_never_reach_sql(ring, clock, statements, kid):
    genuine = ring.signing_key().kid
    clock.now += 5
    statements.clear()
    assert ring.verifying_key(genuine) is not None  # control: the same path, no query
    assert ring.verifying_key(kid) is None
    assert statements == []  # a kid of no thumbprint's shape causes no reload at all


def test_a_well_shaped_unknown_kid_reaches_sql_only_as_a_parameterless_reload(
    ring, clock, statements
):
    ring.signing_key()
    clock.now += 5
    statements.clear()
    kid = "Z" * 43
    assert ring.verifying_key(kid) is None
    assert statements, "the early reload ran"
    assert all(kid not in sql and kid not in params for sql, params in statements)
