"""Tokens: the claims they carry, their lifetimes, decoding a refresh token."""

from datetime import timedelta

import pytest
from flask_jwt_extended.exceptions import WrongTokenError

from authsvc import tokens
from authsvc.errors import TokenMissing
from authsvc.models import utcnow
from tests.helpers import claims_of


def test_every_token_carries_the_contract_claims(auth, user):
    pair = auth.login("ada")
    access, refresh = claims_of(pair["access_token"]), claims_of(pair["refresh_token"])
    for claims in (access, refresh):
        assert {"sub", "jti", "iat", "exp", "type", "sid"} <= set(claims)
        assert claims["sub"] == str(user["id"])
    assert (access["type"], refresh["type"]) == ("access", "refresh")
    assert access["sid"] == refresh["sid"]
    assert access["exp"] - access["iat"] == 900


def test_access_tokens_carry_the_amr_of_a_password_login(auth, user):
    pair = auth.login("ada")
    assert claims_of(pair["access_token"])["amr"] == ["pwd"]
    assert "amr" not in claims_of(pair["refresh_token"])  # a refresh reads the session's


def test_an_access_token_never_outlives_the_session_it_is_issued_for(app):
    now = utcnow()
    with app.app_context():
        short = tokens.issue_pair(7, "a" * 32, ["pwd"], now + timedelta(seconds=60), now)
        long = tokens.issue_pair(7, "a" * 32, ["pwd"], now + timedelta(days=1), now)
    assert short.tokens["expires_in"] == 60
    assert long.tokens["expires_in"] == 900  # positive control: the configured lifetime
    access, refresh = (claims_of(short.tokens[name]) for name in ("access_token", "refresh_token"))
    assert access["exp"] == refresh["exp"] == access["iat"] + 60
    assert refresh["jti"] == short.refresh_jti != long.refresh_jti
    assert (access["sub"], access["sid"], access["amr"]) == ("7", "a" * 32, ["pwd"])


def test_decoding_a_refresh_token_refuses_an_access_token_and_nothing(app):
    now = utcnow()
    with app.app_context():
        pair = tokens.issue_pair(7, "b" * 32, ["pwd"], now + timedelta(days=1), now).tokens
        assert tokens.decode_refresh_token(pair["refresh_token"])["type"] == "refresh"
        with pytest.raises(WrongTokenError):
            tokens.decode_refresh_token(pair["access_token"])
        for nothing in ("", None):
            with pytest.raises(TokenMissing):
                tokens.decode_refresh_token(nothing)


@pytest.mark.parametrize(
    ("value", "is_user_id"),
    [
        ("1", True),
        ("123456789012345678", True),
        ("0", False),
        ("012", False),
        ("1234567890123456789", False),
        ("-1", False),
        ("1e3", False),
        ("\u0661", False),
    ],
)
def test_user_ids_have_one_shape(value, is_user_id):
    assert tokens.is_user_id(value) is is_user_id


def test_session_ids_are_32_lower_case_hex_digits():
    assert tokens.is_session_id(tokens.new_session_id())
    for value in ("A" * 32, "a" * 31, "a" * 33, "g" * 32, ""):
        assert not tokens.is_session_id(value)
