"""Passkey flows for the API tests: options, answers from a software authenticator,
and the fixtures of a user with one passkey (a pytest plugin, see conftest.py)."""

import pytest

from testing.softauthn import SoftAuthenticator

PREFIX = "/api/v1/auth/passkeys"
ORIGIN = "http://localhost:8000"

# What the API tests run with (whatever the environment says).
PASSKEY_SETTINGS = {"WEBAUTHN_RP_ID": "localhost", "WEBAUTHN_ORIGINS": [ORIGIN]}


@pytest.fixture
def device():
    return SoftAuthenticator(origin=ORIGIN)


@pytest.fixture
def ada_headers(auth, user):
    return auth.headers_for(user)


def register(client, headers, device, name=None, **bend):
    """Ask for creation options and answer them; return (response, credential)."""
    options = client.post(f"{PREFIX}/register/options", json={}, headers=headers)
    assert options.status_code == 200, options.get_json()
    response, credential = device.create(options.get_json(), **bend)
    body = {"credential": response, **({"name": name} if name else {})}
    return client.post(f"{PREFIX}/register", json=body, headers=headers), credential


def login_options(client, username=None):
    body = {"username": username} if username else {}
    reply = client.post(f"{PREFIX}/login/options", json=body)
    assert reply.status_code == 200, reply.get_json()
    return reply.get_json()


def login(client, assertion):
    return client.post(f"{PREFIX}/login", json={"credential": assertion})


@pytest.fixture
def ada_passkey(client, ada_headers, device):
    reply, credential = register(client, ada_headers, device, name="Laptop")
    assert reply.status_code == 201, reply.get_json()
    return credential


def assert_login_failed(reply):
    assert reply.status_code == 401, reply.get_json()
    assert reply.mimetype == "application/problem+json"
    assert reply.get_json()["detail"] == "Passkey login failed"
