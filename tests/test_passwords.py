"""Password hashing and policy."""

import pytest

from authsvc import passwords


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


def test_long_passwords_are_not_truncated(ctx):
    base = "x" * 72
    hashed = passwords.hash_password(base + "-one")
    assert passwords.verify_password(hashed, base + "-one")
    assert not passwords.verify_password(hashed, base + "-two")
    assert not passwords.verify_password(hashed, base)


def test_nfkc_equivalent_forms_verify(ctx):
    hashed = passwords.hash_password("ｐａｓｓｗｏｒｄ－ｆｕｌｌｗｉｄｔｈ")
    assert passwords.verify_password(hashed, "password-fullwidth")


def test_dummy_verify_is_false(ctx):
    assert passwords.dummy_verify("anything") is False


def test_common_list_is_shipped_with_its_source():
    assert len(passwords.common_passwords()) >= 10_000
    assert "123456789" in passwords.common_passwords()


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short", "at least 8"),
        ("x" * 129, "at most 128"),
        ("Password123", "too common"),
        ("my-name-is-Ada!", "username"),
        ("lovelace-rules", "email"),
        ("tab\there-and-more", "printable"),
    ],
)
def test_policy_reasons(password, reason):
    problems = passwords.policy_problems(password, username="ada", email="lovelace@example.com")
    assert any(reason in problem for problem in problems), problems


def test_policy_counts_characters_after_normalization():
    assert passwords.policy_problems("ﬀ" * 64, username="ada") == []  # 64 → 128 chars
    assert passwords.policy_problems("ﬀ" * 65, username="ada")


def test_short_local_part_is_not_checked():
    assert (
        passwords.policy_problems("jo-and-a-long-phrase", username="zed", email="jo@example.com")
        == []
    )


@pytest.mark.parametrize(
    ("stored_prefix", "rounds", "stale"),
    [("$2b$04$", 4, False), ("$2b$04$", 5, True), ("$2b$06$", 5, True), ("$2a$04$", 4, True)],
    ids=["same-cost", "cost-raised", "cost-lowered", "old-scheme"],
)
def test_a_hash_needs_rehash_when_cost_or_scheme_differs(app, stored_prefix, rounds, stale):
    app.config["BCRYPT_LOG_ROUNDS"] = rounds
    with app.app_context():
        stored = stored_prefix + "x" * 53
        assert passwords.needs_rehash(stored) is stale


def test_new_hashes_take_the_configured_cost_at_call_time(app):
    with app.app_context():
        assert passwords.hash_password("some-passphrase").startswith("$2b$04$")
        app.config["BCRYPT_LOG_ROUNDS"] = 5
        assert passwords.hash_password("some-passphrase").startswith("$2b$05$")


def test_the_dummy_costs_what_most_stored_hashes_cost(app, make_user):
    """After a cost change, unknown users cost what the typical known user costs."""
    for name in ("ann", "ben", "cat"):
        make_user(name)
    app.config["BCRYPT_LOG_ROUNDS"] = 5
    make_user("dan")  # one account already at the new cost
    with app.app_context():
        assert passwords.stored_rounds_mode() == 4
        assert passwords.dummy_rounds() == 4
    app.config["BCRYPT_LOG_ROUNDS"] = 6
    for name in ("eve", "fay", "gus", "hal"):
        make_user(name)
    with app.app_context():
        assert passwords.stored_rounds_mode() == 6  # the typical account moved on


def test_with_no_stored_hash_the_dummy_takes_the_configured_cost(app):
    app.config["BCRYPT_LOG_ROUNDS"] = 5
    with app.app_context():
        assert passwords.stored_rounds_mode() is None
        assert passwords.dummy_rounds() == 5
