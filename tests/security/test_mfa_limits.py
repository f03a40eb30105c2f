"""Rate limits on the second step of login, per address and per account, and its metrics."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import PASSWORD, TOTP, VERIFY, bearer


@pytest.fixture
def app_settings():
    return {
        "RATELIMIT_ENABLED": True,
        "LOGIN_RATE_LIMIT": "100 per minute",
        "MFA_VERIFY_RATE_LIMIT": "3 per minute",
        "TRUSTED_PROXIES": 1,
        "METRICS_ENABLED": True,
    }


def verify_from(client, address, mfa_token, code):
    return client.post(
        VERIFY,
        json={"mfa_token": mfa_token, "code": code},
        headers={"X-Forwarded-For": address},
    )


def assert_throttled(reply):
    assert reply.status_code == 429, reply.get_json()
    assert reply.mimetype == "application/problem+json"
    assert int(reply.headers["Retry-After"]) > 0


def test_verify_is_limited_per_address(mfa, client, make_user):
    ada, bob = mfa.enable(make_user("ada")), mfa.enable(make_user("bob"))
    for enrolled in (ada, ada, bob):
        token = mfa.mfa_token(enrolled.user)
        assert verify_from(client, "203.0.113.1", token, enrolled.code(9)).status_code == 401
    # The address is spent, whatever the account; another address is not.
    assert_throttled(verify_from(client, "203.0.113.1", mfa.mfa_token(bob.user), bob.code()))
    ok = verify_from(client, "203.0.113.2", mfa.mfa_token(bob.user), bob.code())
    assert ok.status_code == 200


def test_verify_is_limited_per_account_across_addresses(mfa, client, make_user):
    ada, bob = mfa.enable(make_user("ada")), mfa.enable(make_user("bob"))
    for address in ("203.0.113.1", "203.0.113.2", "203.0.113.3"):
        token = mfa.mfa_token(ada.user)
        assert verify_from(client, address, token, ada.code(9)).status_code == 401
    assert_throttled(verify_from(client, "203.0.113.4", mfa.mfa_token(ada.user), ada.code()))
    ok = verify_from(client, "203.0.113.5", mfa.mfa_token(bob.user), bob.code())
    assert ok.status_code == 200
    # The window passes: the account may try again.
    mfa.clock.shift(61)
    ok = verify_from(client, "203.0.113.6", mfa.mfa_token(ada.user), ada.code())
    assert ok.status_code == 200


def verifications(client):
    text = client.get("/metrics").get_data(as_text=True)
    return {
        sample.labels["outcome"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "authsvc_mfa_verifications_total"
    }


def test_metrics_count_verifications_by_outcome(mfa, client, make_user):
    ada = mfa.enable(make_user("ada"))
    before = verifications(client)
    code = ada.code()
    address = iter(f"198.51.100.{i}" for i in range(1, 50))

    def verify(token, code_):
        return verify_from(client, next(address), token, code_).status_code

    assert verify(mfa.mfa_token(ada.user), code) == 200
    assert verify(mfa.mfa_token(ada.user), code) == 401  # replayed
    assert verify(mfa.mfa_token(ada.user), ada.code(9)) == 401  # wrong
    assert verify("no-such-token", code) == 401  # invalid token
    assert verify(mfa.mfa_token(ada.user), ada.code(1)) == 429  # the account's 4th
    after = verifications(client)
    delta = {outcome: after.get(outcome, 0) - before.get(outcome, 0) for outcome in after}
    assert {outcome: n for outcome, n in delta.items() if n} == {
        "success": 1,
        "replayed": 1,
        "wrong_code": 1,
        "invalid_token": 1,
        "rate_limited": 1,
    }


GUESS_LIMITS = {
    "RATELIMIT_ENABLED": True,
    "LOGIN_RATE_LIMIT": "3 per minute",
    "TRUSTED_PROXIES": 1,
}


@pytest.mark.parametrize("app_settings", [GUESS_LIMITS])
def test_password_guesses_at_enrolment_are_limited_like_logins(mfa, client, make_user):
    ada = bearer(mfa.tokens(make_user("ada"))["access_token"])
    bob = bearer(mfa.tokens(make_user("bob"))["access_token"])

    def enrol(headers, address, password="not-the-password-1"):
        headers = {**headers, "X-Forwarded-For": address}
        return client.post(TOTP, json={"current_password": password}, headers=headers)

    for address in ("203.0.113.1", "203.0.113.2", "203.0.113.3"):
        assert enrol(ada, address).status_code == 400
    assert_throttled(enrol(ada, "203.0.113.4", PASSWORD))  # the account's budget
    for _ in range(3):
        assert enrol(bob, "203.0.113.9").status_code == 400
    assert_throttled(enrol(bob, "203.0.113.9", PASSWORD))
    # Controls: the account and the address each have budgets of their own.
    carol = bearer(mfa.tokens(make_user("carol"))["access_token"])
    assert enrol(carol, "203.0.113.5", PASSWORD).status_code == 201
