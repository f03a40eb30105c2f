"""Schemathesis, in-process against /openapi.json, with all of its checks: no
5xx; status, content type, headers and body as documented; schema-violating
requests refused, schema-valid ones accepted. One check is added: a status
must be documented by its own code, not only covered by `default`.

One narrow exception: a schema-valid password may still be refused by the
password policy (common, contains the username, longer than 128 characters
once NFKC-normalized), which JSON Schema cannot express; the spec says so in
the field's description. A 422 whose only errors are the policy's own
messages on `password` is not held against positive-data acceptance.
Likewise a schema-valid passkey `credential` is still a signed WebAuthn
response that only a verifier can judge: a 400 of passkey registration with
its own messages is not held against it either.
Nor is the one 400 of the email-token endpoints for a token that is not live:
JSON Schema cannot tell a live token from any other string.
"""

import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import CacheConfig, SchemathesisConfig
from schemathesis.specs.openapi.checks import positive_data_acceptance

from authsvc import accounts, passwords, sessions
from authsvc.admin import create_user
from authsvc.errors import ValidationFailed
from authsvc.extensions import db
from authsvc.models import User
from tests.helpers import PASSWORD

pytestmark = pytest.mark.slow  # hundreds of generated requests

EXAMPLES = 8


@pytest.fixture
def api_schema(app, tmp_path_factory):
    # Schemathesis keeps its cache in ./.schemathesis unless told otherwise: a
    # test run leaves nothing in the working tree.
    config = SchemathesisConfig.discover()
    config.cache = CacheConfig(directory=str(tmp_path_factory.mktemp("schemathesis")))
    return schemathesis.openapi.from_wsgi("/openapi.json", app, config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


class AdminCaller:
    """The admin every case calls as. Cases may log it out, take its rights away,
    change its password or delete it; `prepare` undoes all that before a case."""

    def __init__(self, app, account):
        self.app = app
        self.id = account["id"]
        self.password = account["password"]
        self.headers = None

    def prepare(self, case):
        with self.app.app_context():
            account = db.session.get(User, self.id)
            if account is None:  # a case deleted it: a new admin takes over
                account = create_user(
                    {
                        "email": f"root{uuid.uuid4().hex[:8]}@example.com",
                        "username": f"root{uuid.uuid4().hex[:8]}",
                        "password": self.password,
                        "is_admin": True,
                    }
                )
                self.id, self.headers = account.id, None
            if not (account.is_active and account.is_admin) or self.headers is None:
                account.is_active = account.is_admin = True
                pair = sessions.start(account, sessions.Client(ip=None, user_agent=None)).tokens
                self.headers = {"Authorization": f"Bearer {pair['access_token']}"}
            if wants_current_password(case):
                case.body["current_password"] = self.password
                account.password_hash = passwords.hash_password(self.password)
            db.session.commit()
        return self.headers

    def forget_token(self):
        self.headers = None


@pytest.fixture
def caller(app, admin, user):
    return AdminCaller(app, admin)


def wants_current_password(case):
    """Send the caller's real current password where the profile change needs it,
    as a client would (the spec cannot know it, and JSON Schema cannot say "needed
    with email or password"). A non-string current_password is left alone: that
    is the case's negative mutation."""
    body = case.body
    if case.path != "/api/v1/users/me" or not isinstance(body, dict):
        return False
    needed = "email" in body or "password" in body or "current_password" in body
    return needed and isinstance(body.get("current_password", ""), str)


def status_is_documented(ctx, response, case):
    """Every status below 500 is documented by its own code, not only as `default`."""
    if case.method.upper() != case.operation.method.upper():
        return  # the unsupported-method probe: its 405 is checked by schemathesis
    documented = {code for code in case.operation.responses.status_codes if code != "default"}
    status = response.status_code
    if status < 500 and str(status) not in documented and f"{str(status)[0]}XX" not in documented:
        raise AssertionError(
            f"{case.operation.label} answered {status}; documented: {sorted(documented)}"
        )


# What no schema can produce: a one-time code, or the caller's password where MFA
# asks for it. Refusing a well-formed guess is not refusing valid data (right
# codes and passwords are tested in tests/test_mfa.py).
SECRET_REFUSALS = {
    "Wrong or already used code",
    "Invalid or expired MFA token, or wrong code",
    "Current password is incorrect",
}


def refused_secret(case, response):
    return (
        case.path.startswith("/api/v1/auth/mfa")
        and response.status_code in (400, 401)
        and response.json().get("detail") in SECRET_REFUSALS
    )


POLICY_MESSAGES = (
    "Password must be at most",
    "Password must be at least",
    "Password must contain only printable",
    "Password is too common",
    "Password must not contain",
)
# A new username or email that the caller's kept password contains (/users/me).
KEPT_PASSWORD_MESSAGE = "Your password contains this "


def refused_by_password_policy(response):
    if response.status_code != 422:
        return False
    errors = response.json().get("errors", {})
    names = {field: msgs for field, msgs in errors.items() if field in ("username", "email")}
    if names and set(errors) == set(names):
        return all(msg.startswith(KEPT_PASSWORD_MESSAGE) for msgs in names.values() for msg in msgs)
    return set(errors) == {"password"} and all(
        message.startswith(POLICY_MESSAGES) for message in errors["password"]
    )


PASSKEY_REGISTER = "/api/v1/auth/passkeys/register"
PASSKEY_MESSAGES = (
    "The credential is malformed",
    "Unknown, expired or already used challenge",
    "Passkey registration failed: ",
)


def refused_by_webauthn_verification(case, response):
    return (
        case.path == PASSKEY_REGISTER
        and response.status_code == 400
        and response.json().get("detail", "").startswith(PASSKEY_MESSAGES)
    )


EMAIL_TOKEN_PATHS = ("/api/v1/auth/password/reset", "/api/v1/auth/email/verify")


def refused_as_a_dead_email_token(case, response):
    return (
        case.path in EMAIL_TOKEN_PATHS
        and response.status_code == 400
        and response.json().get("detail") == "Invalid or expired token"
    )


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_spec(case, caller):
    headers = caller.prepare(case)
    response = case.call(headers=headers)
    refused = (
        refused_by_password_policy(response)
        or refused_by_webauthn_verification(case, response)
        or refused_secret(case, response)
        or refused_as_a_dead_email_token(case, response)
    )
    excluded = [positive_data_acceptance] if refused else []
    case.validate_response(
        response,
        headers=headers,
        additional_checks=[status_is_documented],
        excluded_checks=excluded,
    )
    if response.status_code == 401:
        caller.forget_token()


def test_policy_messages_are_the_policys_own(app, user):
    """The exception above cannot hide other 422s: its prefixes match real messages."""
    problems = passwords.policy_problems("x")
    assert problems and all(message.startswith(POLICY_MESSAGES) for message in problems)
    with app.app_context():
        try:
            accounts.update_profile(
                db.session.get(User, user["id"]),
                {"username": "horse", "current_password": PASSWORD},
                current_sid=None,
            )
        except ValidationFailed as refused:
            assert refused.errors["username"][0].startswith(KEPT_PASSWORD_MESSAGE)
        else:
            raise AssertionError("a username the password contains was accepted")


def test_passkey_messages_are_the_verifiers_own(client, auth, user):
    """The passkey exception above matches real registration messages, and only them."""
    headers = auth.headers_for(user)
    for credential in ({}, {"id": "AA", "rawId": "AA", "type": "public-key", "response": {}}):
        reply = client.post(PASSKEY_REGISTER, json={"credential": credential}, headers=headers)
        assert reply.status_code == 400
        assert reply.get_json()["detail"].startswith(PASSKEY_MESSAGES)
    reply = client.post(PASSKEY_REGISTER, json={"credential": []}, headers=headers)
    assert reply.status_code == 422
