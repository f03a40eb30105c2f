"""The `auth` blueprint: register, login, refresh, logout, logout-all, sessions."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.helpers import (
    LOGIN,
    LOGOUT,
    LOGOUT_ALL,
    ME,
    PASSWORD,
    REFRESH,
    REGISTER,
    SESSIONS,
    assert_problem,
)


def register(client, **fields):
    body = {"email": "grace@example.com", "username": "grace", "password": PASSWORD}
    body.update(fields)
    return client.post(REGISTER, json=body)


def assert_token_pair(response, status=200):
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert response.headers["Cache-Control"] == "no-store"
    return body


def test_register_returns_token_pair_that_works(client, auth):
    pair = assert_token_pair(register(client, full_name="Grace Hopper"), 201)
    me = client.get(ME, headers=auth.bearer(pair["access_token"]))
    assert me.status_code == 200
    assert me.get_json()["username"] == "grace"
    assert me.get_json()["full_name"] == "Grace Hopper"


def test_register_stores_email_lower_cased(client, auth):
    pair = assert_token_pair(register(client, email="Grace@Example.COM"), 201)
    assert client.get(ME, headers=auth.bearer(pair["access_token"])).get_json()["email"] == (
        "grace@example.com"
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"email": "ADA@example.com", "username": "other"},
        {"username": "ADA", "email": "other@example.com"},
    ],
)
def test_register_taken_email_or_username_is_409(client, user, fields):
    body = assert_problem(register(client, **fields), 409)
    assert set(body["errors"]) == set(fields) - {
        "email" if "other@" in fields["email"] else "username"
    }


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "a" * 250 + "@x.io"}, "email"),
        ({"username": "ab"}, "username"),
        ({"username": "a" * 33}, "username"),
        ({"username": "ada@home"}, "username"),
        ({"username": "bad name"}, "username"),
        ({"password": "short1!"}, "password"),
        ({"password": "p" * 129}, "password"),
        ({"password": "password123"}, "password"),
        ({"password": "grace-is-my-name"}, "password"),
        ({"full_name": "x" * 101}, "full_name"),
        ({"is_admin": True}, "is_admin"),
        ({"email": None}, "email"),
        ({"password": 12345678}, "password"),
    ],
)
def test_register_invalid_is_422_and_creates_nothing(client, fields, field):
    body = assert_problem(register(client, **fields), 422)
    assert field in body["errors"]
    assert all(isinstance(msg, str) for msgs in body["errors"].values() for msg in msgs)
    ok = register(client, email="fresh@example.com", username="fresh")
    assert ok.status_code == 201  # nothing half-made blocks a good registration


def test_register_missing_fields_lists_each(client):
    body = assert_problem(client.post(REGISTER, json={}), 422)
    assert set(body["errors"]) == {"email", "username", "password"}


def test_malformed_json_is_400(client):
    response = client.post(REGISTER, data="{not json", content_type="application/json")
    assert_problem(response, 400)


def test_body_over_64_kib_is_413(client):
    response = client.post(REGISTER, data="x" * (65 * 1024), content_type="application/json")
    assert_problem(response, 413)


@pytest.mark.parametrize("login", ["ada", "ADA", "ada@example.com", "Ada@Example.com"])
def test_login_by_username_or_email_ignores_case(client, user, login):
    assert_token_pair(client.post(LOGIN, json={"username": login, "password": PASSWORD}))


def test_login_form_encoded_oauth2_password_flow(client, user):
    form = {
        "grant_type": "password",
        "username": "ada",
        "password": PASSWORD,
        "scope": "",
        "client_id": "swagger",
    }
    assert_token_pair(client.post(LOGIN, data=form))


def test_login_other_grant_type_is_400(client, user):
    form = {"grant_type": "client_credentials", "username": "ada", "password": PASSWORD}
    assert_problem(client.post(LOGIN, data=form), 400)


def test_login_wrong_password_and_unknown_user_look_the_same(client, user):
    wrong = client.post(LOGIN, json={"username": "ada", "password": "wrong-password-1"})
    unknown = client.post(LOGIN, json={"username": "nobody", "password": "wrong-password-1"})
    assert assert_problem(wrong, 401) == assert_problem(unknown, 401)
    assert wrong.headers["WWW-Authenticate"] == unknown.headers["WWW-Authenticate"] == "Bearer"


def test_login_of_disabled_account_is_403_only_with_right_password(client, make_user):
    make_user("sleepy", is_active=False)
    assert_problem(client.post(LOGIN, json={"username": "sleepy", "password": PASSWORD}), 403)
    wrong = client.post(LOGIN, json={"username": "sleepy", "password": "not-the-password"})
    assert_problem(wrong, 401)


def test_refresh_rotates_and_old_token_is_reuse(client, auth, user):
    first = auth.login("ada")
    second = assert_token_pair(client.post(REFRESH, json={"refresh_token": first["refresh_token"]}))
    assert second["refresh_token"] != first["refresh_token"]
    assert client.get(ME, headers=auth.bearer(second["access_token"])).status_code == 200

    reuse = client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert "reuse" in assert_problem(reuse, 401)["detail"].lower()
    # Reuse is theft: the whole session is gone, the newest tokens included.
    assert_problem(client.get(ME, headers=auth.bearer(second["access_token"])), 401)
    assert_problem(client.post(REFRESH, json={"refresh_token": second["refresh_token"]}), 401)


def test_refresh_accepts_bearer_refresh_token(client, auth, user):
    first = auth.login("ada")
    assert_token_pair(client.post(REFRESH, headers=auth.bearer(first["refresh_token"])))


def test_refresh_rejects_access_token(client, auth, user):
    pair = auth.login("ada")
    response = client.post(REFRESH, json={"refresh_token": pair["access_token"]})
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_access_endpoint_rejects_refresh_token(client, auth, user):
    pair = auth.login("ada")
    response = client.get(ME, headers=auth.bearer(pair["refresh_token"]))
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


@pytest.mark.parametrize("body", [{}, {"refresh_token": ""}, {"refresh_token": "garbage"}])
def test_refresh_without_a_valid_token_is_401(client, body):
    assert_problem(client.post(REFRESH, json=body), 401)


def test_refresh_unknown_field_is_422(client):
    assert_problem(client.post(REFRESH, json={"refresh_token": "x", "extra": 1}), 422)


def test_logout_ends_session_and_its_access_tokens(client, auth, user):
    pair = auth.login("ada")
    other = auth.login("ada")
    response = client.post(LOGOUT, json={"refresh_token": pair["refresh_token"]})
    assert response.status_code == 200 and response.get_json()["message"]
    assert_problem(client.get(ME, headers=auth.bearer(pair["access_token"])), 401)
    assert_problem(client.post(REFRESH, json={"refresh_token": pair["refresh_token"]}), 401)
    assert client.get(ME, headers=auth.bearer(other["access_token"])).status_code == 200
    again = client.post(LOGOUT, json={"refresh_token": pair["refresh_token"]})
    assert again.status_code == 200


def test_logout_with_invalid_token_is_401(client):
    assert_problem(client.post(LOGOUT, json={"refresh_token": "nope"}), 401)


def test_logout_all_ends_every_session(client, auth, user):
    pairs = [auth.login("ada") for _ in range(3)]
    client.post(LOGOUT, json={"refresh_token": pairs[2]["refresh_token"]})
    response = client.post(LOGOUT_ALL, headers=auth.bearer(pairs[0]["access_token"]))
    assert response.status_code == 200
    assert response.get_json()["sessions_revoked"] == 2
    assert response.get_json()["message"]
    for pair in pairs:
        assert_problem(client.get(ME, headers=auth.bearer(pair["access_token"])), 401)
        assert_problem(client.post(REFRESH, json={"refresh_token": pair["refresh_token"]}), 401)


def test_logout_all_without_token_is_401_without_error_attribute(client):
    response = client.post(LOGOUT_ALL)
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_sessions_lists_live_sessions_newest_first(client, auth, user):
    older = auth.login("ada")
    newer = client.post(
        LOGIN,
        json={"username": "ada", "password": PASSWORD},
        headers={"User-Agent": "pytest-agent"},
    ).get_json()
    dead = auth.login("ada")
    client.post(LOGOUT, json={"refresh_token": dead["refresh_token"]})
    response = client.get(SESSIONS, headers=auth.bearer(older["access_token"]))
    assert response.status_code == 200
    sessions = response.get_json()
    assert len(sessions) == 2
    assert sessions[0]["user_agent"] == "pytest-agent"
    assert [s["current"] for s in sessions] == [False, True]
    assert set(sessions[0]) == {
        "id",
        "created_at",
        "last_used_at",
        "user_agent",
        "ip",
        "expires_at",
        "current",
    }
    assert sessions[0]["ip"] == "127.0.0.1"
    assert newer["access_token"]


def test_delete_session_ends_it(client, auth, user):
    keep = auth.login("ada")
    drop = auth.login("ada")
    sessions = client.get(SESSIONS, headers=auth.bearer(keep["access_token"])).get_json()
    target = next(s["id"] for s in sessions if not s["current"])
    response = client.delete(f"{SESSIONS}/{target}", headers=auth.bearer(keep["access_token"]))
    assert response.status_code == 204 and response.data == b""
    assert_problem(client.get(ME, headers=auth.bearer(drop["access_token"])), 401)
    again = client.delete(f"{SESSIONS}/{target}", headers=auth.bearer(keep["access_token"]))
    assert_problem(again, 404)


@pytest.mark.parametrize("session_id", ["nope", "0" * 32, "x" * 500, "%00", "a/b"])
def test_delete_unknown_session_is_404(client, auth, user, session_id):
    headers = auth.headers_for(user)
    assert_problem(client.delete(f"{SESSIONS}/{session_id}", headers=headers), 404)


def test_cannot_delete_another_users_session(client, auth, user, make_user):
    other = make_user("bob")
    other_pair = auth.login("bob", other["password"])
    other_sid = client.get(SESSIONS, headers=auth.bearer(other_pair["access_token"])).get_json()[0][
        "id"
    ]
    response = client.delete(f"{SESSIONS}/{other_sid}", headers=auth.headers_for(user))
    assert_problem(response, 404)
    assert client.get(ME, headers=auth.bearer(other_pair["access_token"])).status_code == 200


def test_simultaneous_registrations_of_one_name_are_201_and_409s(app):
    """The uniqueness check and the insert race; the loser is told 409, not 500."""
    barrier = threading.Barrier(6)

    def attempt(n):
        client = app.test_client()
        barrier.wait()
        return register(client, username="racer", email=f"racer{n}@example.com").status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = sorted(pool.map(attempt, range(6)))
    assert statuses == [201, 409, 409, 409, 409, 409]


@pytest.mark.parametrize(
    "body",
    ["[" * 5000, '{"email": ' + "1" * 5000 + "}", '{"a": ' * 3000 + "1" + "}" * 3000],
)
@pytest.mark.parametrize("url", [REGISTER, LOGIN])
def test_unparseable_json_is_400_not_500(client, url, body):
    response = client.post(url, data=body, content_type="application/json")
    assert_problem(response, 400)


def test_email_is_limited_to_254_characters_once_lower_cased(client):
    response = register(client, email="İ" * 125 + "@example.com")  # lower-cases to 262
    assert "email" in assert_problem(response, 422)["errors"]


def stored_hash(app, user_id):
    from authsvc.extensions import db
    from authsvc.models import User

    with app.app_context():
        user = db.session.get(User, user_id)
        return user.password_hash, user.updated_at


def test_login_rehashes_a_password_stored_at_another_cost(app, client, user):
    """Raising BCRYPT_LOG_ROUNDS (a restart with the new setting) upgrades each
    stored hash at its owner's next successful login, and only then."""
    old_hash, stamp = stored_hash(app, user["id"])
    assert old_hash.startswith("$2b$04$")
    app.config["BCRYPT_LOG_ROUNDS"] = 5
    wrong = client.post(LOGIN, json={"username": "ada", "password": "not-the-password"})
    assert_problem(wrong, 401)
    assert stored_hash(app, user["id"]) == (old_hash, stamp)  # a failed login changes nothing
    assert_token_pair(client.post(LOGIN, json={"username": "ada", "password": PASSWORD}))
    new_hash, new_stamp = stored_hash(app, user["id"])
    assert new_hash.startswith("$2b$05$")
    assert new_stamp == stamp  # storage upkeep, not a change of the account
    assert_token_pair(client.post(LOGIN, json={"username": "ada", "password": PASSWORD}))
    assert stored_hash(app, user["id"])[0] == new_hash  # at the configured cost: left alone
    assert_problem(client.post(LOGIN, json={"username": "ada", "password": "nope-nope-1"}), 401)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"email": "not-an-email", "password": "short"}, {"email", "password"}),
        ({"username": "x", "password": "password123"}, {"username", "password"}),
        ({"full_name": "x" * 101, "password": "grace-and-favour"}, {"full_name", "password"}),
        ({"email": "nope", "username": "n", "password": "\x07bell-password"}, None),
    ],
    ids=["email+length", "username+common", "full_name+contains-username", "all-three"],
)
def test_register_422_names_every_invalid_field_at_once(client, fields, expected):
    """The password policy's reasons join the schema's, in one answer."""
    errors = assert_problem(register(client, **fields), 422)["errors"]
    assert set(errors) == (expected or {"email", "username", "password"})
    assert all(msg.startswith("Password") for msg in errors["password"])
    assert register(client).status_code == 201  # nothing was half-made
