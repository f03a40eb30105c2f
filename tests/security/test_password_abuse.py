"""Abusive passwords and input: long, multibyte, unnormalized, common, contextual.

None of them may produce a 500; the policy refuses what it must, with reasons.
"""

import unicodedata

import pytest

from tests.helpers import LOGIN, ME, PASSWORD, REGISTER, USERS, assert_problem


def register(client, password, username="grace", email="grace@example.com"):
    body = {"email": email, "username": username, "password": password}
    return client.post(REGISTER, json=body)


def login(client, password, username="grace"):
    return client.post(LOGIN, json={"username": username, "password": password})


# 2-byte (é), 3-byte (€) and 4-byte (🔐) characters around bcrypt's 72-byte limit.
MULTIBYTE = {
    "72-bytes": "\u00e9" * 36,
    "73-bytes": "\u00e9" * 36 + "x",
    "100-bytes-3-byte-chars": "\u20ac" * 33 + "x",
    "100-bytes-4-byte-chars": "\U0001f510" * 25,
    "128-chars-512-bytes": "\U0001f510" * 128,
}


@pytest.mark.parametrize("password", MULTIBYTE.values(), ids=MULTIBYTE.keys())
def test_multibyte_passwords_register_and_log_in(client, password):
    assert len(password.encode()) >= 72
    assert register(client, password).status_code == 201
    assert login(client, password).status_code == 200


def test_passwords_differing_only_after_byte_72_are_different(client):
    """No truncation: bcrypt alone would see both as the same 72 bytes."""
    prefix = "\u00e9" * 36  # exactly 72 bytes
    assert register(client, prefix + "-one").status_code == 201
    assert_problem(login(client, prefix + "-two"), 401)
    assert_problem(login(client, prefix), 401)
    assert login(client, prefix + "-one").status_code == 200


HUGE = "x" * 10_000


@pytest.mark.parametrize(
    ("method", "path", "body", "as_admin"),
    [
        ("POST", REGISTER, {"email": "g@example.com", "username": "grace", "password": HUGE}, 0),
        ("POST", LOGIN, {"username": "ada", "password": HUGE}, 0),
        ("PATCH", ME, {"password": HUGE, "current_password": PASSWORD}, 0),
        ("PATCH", ME, {"password": "long-enough-pw", "current_password": HUGE}, 0),
        ("POST", USERS, {"email": "g@example.com", "username": "grace", "password": HUGE}, 1),
        ("PATCH", f"{USERS}/1", {"password": HUGE}, 1),
    ],
    ids=["register", "login", "profile", "current-password", "admin-create", "admin-update"],
)
def test_ten_thousand_character_passwords_are_422_not_500(
    client, auth, user, admin, method, path, body, as_admin
):
    headers = auth.headers_for(admin if as_admin else user)
    response = client.open(path, method=method, json=body, headers=headers)
    assert_problem(response, 422)


@pytest.mark.parametrize(
    "stored",
    [
        "\uff23\uff4f\uff52\uff52\uff45\uff43\uff54-horse-battery",  # full-width letters
        "\ufb01ne-\ufb02ight-staple-9",  # ligatures fi, fl
        unicodedata.normalize("NFD", "caf\u00e9-cr\u00e8me-br\u00fbl\u00e9e"),  # decomposed
        "\u2460\u2461\u2462-circled-digits",  # ①②③
    ],
    ids=["fullwidth", "ligatures", "nfd", "circled"],
)
def test_nfkc_equivalent_forms_log_in(client, stored):
    assert register(client, stored).status_code == 201
    for form in ("NFC", "NFD", "NFKC", "NFKD"):
        assert login(client, unicodedata.normalize(form, stored)).status_code == 200, form


def test_length_counts_characters_after_normalization(client):
    # 100 "ﬀ" ligatures are 100 characters typed, 200 after NFKC: over 128.
    body = assert_problem(register(client, "\ufb00" * 100), 422)
    assert body["errors"]["password"] == ["Password must be at most 128 characters long."]


@pytest.mark.parametrize(
    "password",
    [
        "password123",
        "PassWord123",
        # ｐａｓｓｗｏｒｄ１２３
        "\uff50\uff41\uff53\uff53\uff57\uff4f\uff52\uff44\uff11\uff12\uff13",
        "iloveyou",
        "qwertyuiop",
        "1q2w3e4r5t",
    ],
)
def test_common_passwords_are_refused_with_a_reason(client, password):
    body = assert_problem(register(client, password), 422)
    assert "Password is too common." in body["errors"]["password"]


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("grace-is-my-name", "Password must not contain the username."),
        ("I-AM-GRACE-2024!", "Password must not contain the username."),
        ("hopper-rules-ok", "Password must not contain the email address."),
        ("my-H0PPER-pass", None),  # 0 is no O: this one is fine
    ],
)
def test_passwords_containing_the_username_or_email_are_refused(client, password, reason):
    response = register(client, password, email="hopper@example.com")
    if reason is None:
        assert response.status_code == 201
    else:
        assert reason in assert_problem(response, 422)["errors"]["password"]


def test_short_email_local_part_is_not_a_context_word(client):
    assert register(client, "alpha-bravo-charlie", email="al@example.com").status_code == 201


@pytest.mark.parametrize(
    ("method", "path", "body", "as_admin"),
    [
        ("PATCH", ME, {"password": "password123", "current_password": PASSWORD}, 0),
        ("PATCH", ME, {"password": "ada-lovelace-rules", "current_password": PASSWORD}, 0),
        ("POST", USERS, {"email": "g@example.com", "username": "grace", "password": "iloveyou"}, 1),
        ("PUT", f"{USERS}/2", {"password": "ada-lovelace-rules"}, 1),
        ("PUT", f"{USERS}/2", {"username": "bytes", "password": "bytes-and-bits"}, 1),
    ],
    ids=["profile-common", "profile-username", "admin-create", "admin-update", "new-username"],
)
def test_policy_holds_wherever_a_password_is_set(
    client, auth, admin, user, method, path, body, as_admin
):
    headers = auth.headers_for(admin if as_admin else user)
    errors = assert_problem(client.open(path, method=method, json=body, headers=headers), 422)
    assert errors["errors"]["password"]
    assert client.post(LOGIN, json={"username": "ada", "password": PASSWORD}).status_code == 200


@pytest.mark.parametrize(
    "password",
    ["tab\there-password", "zero\u200bwidth-password", "bell\x07password", "nul\x00password"],
)
def test_unprintable_passwords_are_refused(client, password):
    assert_problem(register(client, password), 422)


LONE_SURROGATE = '"\\ud800abcdefgh"'


@pytest.mark.parametrize(
    ("path", "template"),
    [
        (LOGIN, '{"username": "ada", "password": %s}'),
        (LOGIN, '{"username": %s, "password": "abcdefghij"}'),
        (REGISTER, '{"username": "grace", "email": "g@example.com", "password": %s}'),
        (
            REGISTER,
            '{"username": "grace", "email": "g@example.com", "password": "ok-pass-99",'
            ' "full_name": %s}',
        ),
        ("/api/v1/auth/refresh", '{"refresh_token": %s}'),
        ("/api/v1/auth/logout", '{"refresh_token": %s}'),
    ],
    ids=["login-password", "login-name", "register-password", "full-name", "refresh", "logout"],
)
def test_lone_surrogates_in_json_are_422_not_500(client, user, path, template):
    """JSON may escape half a surrogate pair; no database or bcrypt can take it."""
    response = client.post(path, data=template % LONE_SURROGATE, content_type="application/json")
    assert_problem(response, 422)


class TestWithRateLimits:
    @pytest.fixture
    def app_settings(self):
        return {"RATELIMIT_ENABLED": True}

    def test_lone_surrogate_login_name_is_422_not_500(self, client, user):
        """The per-account limit looks the name up before the schema sees it."""
        body = '{"username": "\\udc00ada", "password": "abcdefghij"}'
        assert_problem(client.post(LOGIN, data=body, content_type="application/json"), 422)
