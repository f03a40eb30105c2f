"""What several test modules share: the test app, API paths, problem assertions,
token forging, the login helper behind the `auth` fixture, and MFA actions
(TOTP codes, enrolment, the two steps of login) behind the `mfa` fixture.

The one module tests import helpers from; no test module imports another.
"""

import threading
import time
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime

import jwt
import pyotp

from authsvc import create_app, jws
from authsvc.crypto import derived_secret
from authsvc.keyring import keyring
from testing.load.client import ApiClient

TEST_SECRET_KEY = "test-secret-key-0123456789-abcdefghijklmnop"
PASSWORD = "correct-horse-battery-staple"

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


def make_app(database_url, **overrides):
    """The app in testing mode on `database_url`, rate limits off unless overridden."""
    settings = {
        "APP_ENV": "testing",
        "SECRET_KEY": TEST_SECRET_KEY,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "RATELIMIT_ENABLED": False,
        "RATELIMIT_STORAGE_URI": "memory://",
        "BCRYPT_LOG_ROUNDS": 4,
        "BACKEND_CORS_ORIGINS": ["http://allowed.example"],
    }
    settings.update(overrides)
    return create_app(settings)


def assert_problem(response, status, challenge=None):
    """The response is an RFC 9457 problem with `status` (and this WWW-Authenticate)."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["type"] == "about:blank" and body["status"] == status and body["title"]
    if challenge is not None:
        assert response.headers.get("WWW-Authenticate") == challenge
    return body


# The app of the current test, when it has one (set by conftest's `remember_app`).
CURRENT_APP = {}


def genuine_signer(kind):
    """How the current test's app signs a `kind` token: (key, algorithm, header)."""
    with CURRENT_APP["app"].app_context():
        if kind == "refresh":
            return derived_secret(jws.REFRESH_PURPOSE), jws.REFRESH_ALG, {}
        signing = keyring().signing_key()
        return signing.private_key, signing.alg, {"kid": signing.kid, "typ": jws.ACCESS_TYP}


def claims_of(token):
    """The claims of one of our tokens, its signature verified with the current app's keys."""
    if jwt.get_unverified_header(token).get("alg") == jws.REFRESH_ALG:
        key, algorithm, _header = genuine_signer("refresh")
    else:
        with CURRENT_APP["app"].app_context():
            kid = jwt.get_unverified_header(token)["kid"]
            found = keyring().verifying_key(kid)
            key, algorithm = found.public_key, found.alg
    return jwt.decode(token, key, algorithms=[algorithm], options={"verify_aud": False})


def unverified_claims(token):
    """The claims of any token, signature unchecked (a live server's, or to copy)."""
    return jwt.decode(token, options={"verify_signature": False})


def forge(token, *, key=None, algorithm=None, drop=(), **changes):
    """Re-sign `token`'s claims with `changes` applied and the `drop` claims removed.

    Without `key` and `algorithm`, signed as authsvc signs that kind of token
    (a genuine signature: the positive control); with only `algorithm`, an
    HMAC algorithm keyed with authsvc's refresh secret; with only `key`, HS256.
    """
    claims = {**unverified_claims(token), **changes}
    for name in drop:
        claims.pop(name)
    headers = {}
    if key is None and algorithm is None:
        key, algorithm, headers = genuine_signer(unverified_claims(token)["type"])
    else:
        key = genuine_signer("refresh")[0] if key is None else key
        algorithm = algorithm or "HS256"
    with warnings.catch_warnings():  # a 43-byte key is "short" for HS512: that's the attack
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return jwt.encode(claims, key, algorithm=algorithm, headers=headers)


def now():
    return int(time.time())


class AuthActions:
    """Log in and call the API as a given user."""

    def __init__(self, client):
        self.client = client

    def login(self, login, password=PASSWORD):
        response = self.client.post(LOGIN, json={"username": login, "password": password})
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    @staticmethod
    def bearer(token):
        return {"Authorization": f"Bearer {token}"}

    def headers_for(self, user):
        return self.bearer(self.login(user["username"], user["password"])["access_token"])


# --- MFA: TOTP codes, enrolment, the two steps of login (fixtures `clock`, `mfa`) ---

MFA = f"{API}/auth/mfa"
TOTP = f"{MFA}/totp"
CONFIRM = f"{MFA}/totp/confirm"
VERIFY = f"{MFA}/verify"
RECOVERY_CODES = f"{MFA}/recovery-codes"
MFA_REQUIRED = "urn:authsvc:problem:mfa-required"
STEP = 30
# 10 s into a 30 s step, so a shift by whole steps never lands on a boundary.
START = datetime(2026, 11, 29, 12, 0, 10, tzinfo=UTC)


def code(secret, steps=0):
    """The TOTP code of `secret` at now plus `steps` 30 s steps."""
    return pyotp.TOTP(secret).at(time.time() + steps * STEP)


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Enrolled:
    """A user with MFA on: their credentials, TOTP secret and recovery codes."""

    user: dict
    secret: str
    recovery_codes: list
    headers: dict = field(default_factory=dict)

    def code(self, steps=0):
        return code(self.secret, steps)


class MfaActions:
    def __init__(self, client, clock):
        self.client = client
        self.clock = clock

    def login(self, user, password=PASSWORD):
        return self.client.post(LOGIN, json={"username": user["username"], "password": password})

    def tokens(self, user):
        reply = self.login(user)
        assert reply.status_code == 200, reply.get_json()
        return reply.get_json()

    def start_enrolment(self, headers, password=PASSWORD):
        reply = self.client.post(TOTP, json={"current_password": password}, headers=headers)
        assert reply.status_code == 201, reply.get_json()
        return reply.get_json()

    def enable(self, user):
        """Enrol and confirm; the clock moves one step on, past the confirmation's code."""
        headers = bearer(self.tokens(user)["access_token"])
        secret = self.start_enrolment(headers)["secret"]
        reply = self.client.post(CONFIRM, json={"code": code(secret)}, headers=headers)
        assert reply.status_code == 200, reply.get_json()
        self.clock.shift(STEP)
        return Enrolled(user, secret, reply.get_json()["recovery_codes"], headers)

    def mfa_token(self, user):
        """Log in with the password: the 403 mfa-required problem's `mfa_token`."""
        reply = self.login(user)
        assert reply.status_code == 403, reply.get_json()
        body = reply.get_json()
        assert body["type"] == MFA_REQUIRED, body
        return body["mfa_token"]

    def verify(self, mfa_token, code_):
        return self.client.post(VERIFY, json={"mfa_token": mfa_token, "code": code_})

    def login_with(self, enrolled, code_=None):
        """Both steps; return the verify reply."""
        return self.verify(self.mfa_token(enrolled.user), code_ or enrolled.code())


def race_logins_with_a_password_change(url, name, password, new_password, token, logins):
    """`logins` password logins of `name` released at once with a PATCH of the
    password (by the session of `token`), each on its own connection to the
    live server at `url`; returns (the change's reply, the logins' replies)."""
    start = threading.Barrier(logins + 1)
    replies = [None] * (logins + 1)

    def log_in(index):
        client = ApiClient(url)
        start.wait(timeout=30)
        replies[index] = client.post(LOGIN, {"username": name, "password": password})

    def change():
        client = ApiClient(url)
        start.wait(timeout=30)
        body = {"password": new_password, "current_password": password}
        replies[logins] = client.request("PATCH", ME, body, token=token)

    threads = [threading.Thread(target=log_in, args=(i,)) for i in range(logins)]
    threads.append(threading.Thread(target=change))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return replies[logins], replies[:logins]
