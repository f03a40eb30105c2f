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
