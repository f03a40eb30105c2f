"""Introspection clients: secrets shown once and stored hashed, Basic credentials checked."""

import pytest
from sqlalchemy import select

from authsvc import clients
from authsvc.extensions import db
from authsvc.models import IntrospectionClient


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield app


def test_a_client_secret_is_stored_only_as_a_hash(ctx):
    client_id, secret = clients.create("orders service")
    assert client_id.startswith("rs_") and len(secret) >= 43
    row = db.session.scalars(select(IntrospectionClient)).one()
    assert row.client_id == client_id and row.name == "orders service"
    assert secret not in row.secret_hash and row.secret_hash == clients.hash_secret(secret)


def test_authenticate_accepts_the_secret_and_nothing_else(ctx):
    client_id, secret = clients.create("orders")
    other_id, other_secret = clients.create("billing")
    assert clients.authenticate(client_id, secret) == client_id  # control
    assert clients.authenticate(client_id, other_secret) is None
    assert clients.authenticate(other_id, secret) is None
    assert clients.authenticate(client_id, secret[:-1]) is None
    assert clients.authenticate(client_id, secret + "x") is None
    assert clients.authenticate("rs_unknown", secret) is None
    assert clients.authenticate(client_id.upper(), secret) is None


@pytest.mark.parametrize(
    "client_id, secret",
    [("", ""), (None, "s"), ("c", None), ("x" * 65, "s"), ("c", "s" * 257), ("' OR 1=1 --", "s")],
)
def test_malformed_credentials_are_refused(ctx, client_id, secret):
    clients.create("orders")
    assert clients.authenticate(client_id, secret) is None


def test_a_deleted_client_is_refused_at_once(ctx):
    client_id, secret = clients.create("orders")
    assert clients.delete_client(client_id) is True
    assert clients.authenticate(client_id, secret) is None
    assert clients.delete_client(client_id) is False


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "bad\nname", None])
def test_client_names_are_checked(ctx, name):
    with pytest.raises(ValueError):
        clients.create(name)
    assert clients.list_clients() == []
