"""authsvc's JWTManager: upstream's checks in one decode, claims checked only once signed.

test_token_attacks.py holds the attacks themselves; this file holds what the
override promises beyond them.
"""

from pathlib import Path

import flask_jwt_extended
import pytest
from jwt.api_jws import PyJWS

from authsvc.extensions import jwt
from authsvc.jwt_manager import REVIEWED_VERSION
from tests.security.conftest import INVALID_TOKEN, ME, REFRESH, assert_problem, forge, now

REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements.txt"


def test_the_override_was_reviewed_against_the_pinned_flask_jwt_extended():
    """It replaces a private method: another version must be reviewed before use."""
    assert flask_jwt_extended.__version__ == REVIEWED_VERSION
    assert f"flask-jwt-extended=={REVIEWED_VERSION}" in REQUIREMENTS.read_text().splitlines()


@pytest.fixture
def pair(auth, user):
    return auth.login("ada")


@pytest.fixture
def token_loads(monkeypatch):
    """How many times pyjwt parses a token (each parse checks every character)."""
    calls = []
    original = PyJWS._load

    def counting(self, token):
        calls.append(token)
        return original(self, token)

    monkeypatch.setattr(PyJWS, "_load", counting)
    return calls


def test_an_authenticated_request_parses_its_token_twice_not_four_times(client, pair, token_loads):
    response = client.get(ME, headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert response.status_code == 200
    # One verified decode, and the header flask-jwt-extended reads for its callbacks.
    assert len(token_loads) == 2


def test_a_refresh_parses_the_presented_token_once(client, pair, token_loads):
    response = client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
    assert response.status_code == 200
    assert token_loads.count(pair["refresh_token"]) == 1


def test_claims_are_judged_only_once_the_signature_is_good(client, pair):
    """A forgery lacking claims is refused for its signature, never read for its claims."""
    forged = forge(pair["access_token"], key="x" * 48, drop=("sid", "type"))
    body = assert_problem(
        client.get(ME, headers={"Authorization": f"Bearer {forged}"}), 401, INVALID_TOKEN
    )
    assert body["detail"] == "Invalid token: Signature verification failed"


def test_a_signed_token_missing_a_required_claim_is_named(client, pair):
    """Upstream would fill in a missing `jti` or `type`; authsvc refuses the token."""
    for claim in ("jti", "type"):
        forged = forge(pair["access_token"], drop=(claim,))
        body = assert_problem(
            client.get(ME, headers={"Authorization": f"Bearer {forged}"}), 401, INVALID_TOKEN
        )
        assert body["detail"] == f"Invalid token: Missing claim: {claim}"


def test_an_expired_token_reaches_the_expired_callback(client, pair):
    expired = forge(pair["access_token"], exp=now() - 60)
    body = assert_problem(
        client.get(ME, headers={"Authorization": f"Bearer {expired}"}), 401, INVALID_TOKEN
    )
    assert body["detail"] == "Token has expired"


def test_no_decode_key_loader_can_be_registered():
    """One key verifies every token; a key chosen from unverified claims is not supported."""
    with pytest.raises(NotImplementedError):
        jwt.decode_key_loader(lambda header, claims: "key")


def test_without_a_registered_claims_check_no_token_passes(app, pair):
    """Fail closed: a manager nobody gave a claims check refuses to decode."""
    from authsvc.jwt_manager import JWTManager

    bare = JWTManager()
    with app.app_context(), pytest.raises(RuntimeError, match="claims_check"):
        bare._decode_jwt_from_config(pair["access_token"])


@pytest.mark.parametrize("locations", [["headers", "cookies"], "cookies", ["query_string"]])
def test_tokens_from_anywhere_but_the_header_are_refused_at_start_up(database_url, locations):
    from tests.conftest import make_app

    with pytest.raises(RuntimeError, match="Authorization header only"):
        make_app(database_url, JWT_TOKEN_LOCATION=locations)
