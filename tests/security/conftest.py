"""Helpers for the attack suite: problem assertions, token forging, API paths."""

import time
import warnings

import jwt
import pytest

from tests.conftest import TEST_SECRET_KEY

API = "/api/v1"
REGISTER = f"{API}/auth/register"
LOGIN = f"{API}/auth/login"
REFRESH = f"{API}/auth/refresh"
LOGOUT = f"{API}/auth/logout"
LOGOUT_ALL = f"{API}/auth/logout-all"
SESSIONS = f"{API}/auth/sessions"
USERS = f"{API}/users"
ME = f"{API}/users/me"

INVALID_TOKEN = 'Bearer error="invalid_token"'
NO_TOKEN = "Bearer"


def assert_problem(response, status, challenge=None):
    """The response is an RFC 9457 problem with `status` (and this WWW-Authenticate)."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["type"] == "about:blank" and body["status"] == status and body["title"]
    if challenge is not None:
        assert response.headers.get("WWW-Authenticate") == challenge
    return body


def claims_of(token):
    """The claims of one of our tokens, unverified (to copy into a forged one)."""
    return jwt.decode(token, options={"verify_signature": False})


def forge(token, *, key=TEST_SECRET_KEY, algorithm="HS256", drop=(), **changes):
    """Re-sign `token`'s claims with `changes` applied and the `drop` claims removed."""
    claims = {**claims_of(token), **changes}
    for name in drop:
        claims.pop(name)
    with warnings.catch_warnings():  # a 43-byte key is "short" for HS512: that's the attack
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return jwt.encode(claims, key, algorithm=algorithm)


def now():
    return int(time.time())


@pytest.fixture
def tokens_for(auth):
    """Log a user in and return their token pair."""

    def login(user):
        return auth.login(user["username"], user["password"])

    return login
