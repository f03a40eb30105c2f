"""The `users` blueprint: one's own profile, and user administration."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from authsvc.extensions import db
from authsvc.models import User
from tests.helpers import LOGIN, ME, PASSWORD, REFRESH, SESSIONS, USERS, assert_problem

USER_FIELDS = {
    "id",
    "email",
    "username",
    "full_name",
    "is_active",
    "is_admin",
    "mfa_enabled",
    "email_verified",
    "created_at",
    "updated_at",
}
NEW_PASSWORD = "a-brand-new-passphrase"


def test_me_returns_user_without_secrets(client, auth, user):
    response = client.get(ME, headers=auth.headers_for(user))
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == USER_FIELDS
    assert body["email"] == "ada@example.com" and body["is_admin"] is False
    assert body["created_at"].endswith("+00:00")
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("method", ["put", "patch"])
def test_update_me_full_name_and_username(client, auth, user, method):
    headers = auth.headers_for(user)
    response = getattr(client, method)(
        ME, json={"full_name": "Countess", "username": "ada2"}, headers=headers
    )
    assert response.status_code == 200
    assert response.get_json()["full_name"] == "Countess"
    assert response.get_json()["username"] == "ada2"
    cleared = getattr(client, method)(ME, json={"full_name": None}, headers=headers)
    assert cleared.get_json()["full_name"] is None


def test_update_me_email_needs_current_password(client, auth, user):
    headers = auth.headers_for(user)
    missing = client.patch(ME, json={"email": "new@example.com"}, headers=headers)
    assert "current_password" in assert_problem(missing, 422)["errors"]
    wrong = client.patch(
        ME, json={"email": "new@example.com", "current_password": "nope-nope"}, headers=headers
    )
    assert_problem(wrong, 400)
    same = client.patch(ME, json={"email": "ADA@example.com"}, headers=headers)
    assert same.status_code == 200  # the current email is no change
    ok = client.patch(
        ME, json={"email": "New@Example.com", "current_password": PASSWORD}, headers=headers
    )
    assert ok.status_code == 200 and ok.get_json()["email"] == "new@example.com"


def test_password_change_keeps_current_session_and_ends_others(client, auth, user):
    current = auth.login("ada")
    other = auth.login("ada")
    headers = auth.bearer(current["access_token"])
    missing = client.patch(ME, json={"password": NEW_PASSWORD}, headers=headers)
    assert_problem(missing, 422)
    response = client.patch(
        ME, json={"password": NEW_PASSWORD, "current_password": PASSWORD}, headers=headers
    )
    assert response.status_code == 200
    assert client.get(ME, headers=headers).status_code == 200
    assert client.post(REFRESH, json={"refresh_token": current["refresh_token"]}).status_code == 200
    assert_problem(client.get(ME, headers=auth.bearer(other["access_token"])), 401)
    assert_problem(client.post(REFRESH, json={"refresh_token": other["refresh_token"]}), 401)
    assert_problem(client.post(LOGIN, json={"username": "ada", "password": PASSWORD}), 401)
    auth.login("ada", NEW_PASSWORD)


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"is_admin": True}, 422, "is_admin"),
        ({"is_active": False}, 422, "is_active"),
        ({"id": 99}, 422, "id"),
        ({"username": "x"}, 422, "username"),
        ({"email": "nope"}, 422, "email"),
        ({"password": "short", "current_password": PASSWORD}, 422, "password"),
        ({"password": "ada-lovelace-99", "current_password": PASSWORD}, 422, "password"),
    ],
)
def test_update_me_invalid_changes_nothing(client, auth, user, body, status, field):
    headers = auth.headers_for(user)
    before = client.get(ME, headers=headers).get_json()
    assert field in assert_problem(client.patch(ME, json=body, headers=headers), status)["errors"]
    assert client.get(ME, headers=headers).get_json() == before


def test_update_me_taken_username_is_409(client, auth, user, make_user):
    make_user("bob")
    response = client.patch(ME, json={"username": "BOB"}, headers=auth.headers_for(user))
    assert_problem(response, 409)


def test_admin_lists_users_with_total_and_filters(client, auth, admin, make_user):
    for name in ("alice", "alfred", "bob"):
        make_user(name, full_name=f"{name.title()} Example")
    make_user("carol", is_active=False)
    headers = auth.headers_for(admin)
    everyone = client.get(USERS, headers=headers)
    assert everyone.status_code == 200
    assert everyone.headers["X-Total-Count"] == "5"
    ids = [u["id"] for u in everyone.get_json()]
    assert ids == sorted(ids)
    page = client.get(f"{USERS}?skip=1&limit=2", headers=headers)
    assert [u["id"] for u in page.get_json()] == ids[1:3]
    assert page.headers["X-Total-Count"] == "5"
    search = client.get(f"{USERS}?q=AL", headers=headers)
    assert {u["username"] for u in search.get_json()} == {"alice", "alfred"}
    assert search.headers["X-Total-Count"] == "2"
    by_name = client.get(f"{USERS}?q=bob%20exa", headers=headers)
    assert [u["username"] for u in by_name.get_json()] == ["bob"]
    inactive = client.get(f"{USERS}?is_active=false", headers=headers)
    assert [u["username"] for u in inactive.get_json()] == ["carol"]
    admins = client.get(f"{USERS}?is_admin=true", headers=headers)
    assert [u["username"] for u in admins.get_json()] == ["root"]
    literal = client.get(f"{USERS}?q=%25", headers=headers)
    assert literal.headers["X-Total-Count"] == "0"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("skip=-1", "skip"),
        ("limit=abc", "limit"),
        ("is_admin=maybe", "is_admin"),
        ("bogus=1", "bogus"),
    ],
)
def test_admin_list_bad_query_is_422_keyed_by_parameter(client, auth, admin, query, field):
    body = assert_problem(client.get(f"{USERS}?{query}", headers=auth.headers_for(admin)), 422)
    assert field in body["errors"]


def test_non_admin_cannot_list_or_create(client, auth, user):
    headers = auth.headers_for(user)
    assert_problem(client.get(USERS, headers=headers), 403)
    body = {"email": "x@example.com", "username": "xavier", "password": NEW_PASSWORD}
    assert_problem(client.post(USERS, json=body, headers=headers), 403)


def test_admin_creates_user(client, auth, admin):
    body = {
        "email": "Some.One@Example.com",
        "username": "newbie",
        "password": NEW_PASSWORD,
        "is_admin": True,
        "is_active": False,
        "full_name": "New Bie",
    }
    response = client.post(USERS, json=body, headers=auth.headers_for(admin))
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert set(created) == USER_FIELDS
    assert (created["email"], created["is_admin"], created["is_active"]) == (
        "some.one@example.com",
        True,
        False,
    )
    again = client.post(USERS, json=body, headers=auth.headers_for(admin))
    assert_problem(again, 409)
    weak = {**body, "email": "w@example.com", "username": "weak", "password": "12345678"}
    assert_problem(client.post(USERS, json=weak, headers=auth.headers_for(admin)), 422)


def test_get_user_admin_or_self(client, auth, admin, user, make_user):
    other = make_user("bob")
    admin_headers, user_headers = auth.headers_for(admin), auth.headers_for(user)
    assert client.get(f"{USERS}/{user['id']}", headers=admin_headers).status_code == 200
    assert client.get(f"{USERS}/{user['id']}", headers=user_headers).status_code == 200
    assert_problem(client.get(f"{USERS}/{other['id']}", headers=user_headers), 403)
    assert_problem(client.get(f"{USERS}/999999", headers=user_headers), 403)
    assert_problem(client.get(f"{USERS}/999999", headers=admin_headers), 404)
    assert_problem(client.get(f"{USERS}/99999999999999999999", headers=admin_headers), 404)


def test_admin_update_password_and_deactivation_end_sessions(client, auth, admin, user):
    admin_headers = auth.headers_for(admin)
    pair = auth.login("ada")
    response = client.patch(
        f"{USERS}/{user['id']}", json={"full_name": "A. L."}, headers=admin_headers
    )
    assert response.status_code == 200 and response.get_json()["full_name"] == "A. L."
    assert client.get(ME, headers=auth.bearer(pair["access_token"])).status_code == 200

    client.put(f"{USERS}/{user['id']}", json={"password": NEW_PASSWORD}, headers=admin_headers)
    assert_problem(client.get(ME, headers=auth.bearer(pair["access_token"])), 401)

    pair = auth.login("ada", NEW_PASSWORD)
    response = client.patch(
        f"{USERS}/{user['id']}", json={"is_active": False}, headers=admin_headers
    )
    assert response.get_json()["is_active"] is False
    assert_problem(client.get(ME, headers=auth.bearer(pair["access_token"])), 401)
    assert_problem(client.post(LOGIN, json={"username": "ada", "password": NEW_PASSWORD}), 403)


def test_admin_update_errors(client, auth, admin, user, make_user):
    make_user("bob")
    headers = auth.headers_for(admin)
    assert_problem(client.patch(f"{USERS}/999999", json={"full_name": "x"}, headers=headers), 404)
    taken = client.patch(f"{USERS}/{user['id']}", json={"username": "Bob"}, headers=headers)
    assert_problem(taken, 409)
    unknown = client.patch(f"{USERS}/{user['id']}", json={"role": "god"}, headers=headers)
    assert_problem(unknown, 422)


def test_last_active_admin_is_protected(client, auth, admin):
    headers = auth.headers_for(admin)
    url = f"{USERS}/{admin['id']}"
    assert_problem(client.patch(url, json={"is_admin": False}, headers=headers), 409)
    assert_problem(client.patch(url, json={"is_active": False}, headers=headers), 409)
    assert_problem(client.delete(url, headers=headers), 409)
    assert client.get(ME, headers=headers).get_json()["is_admin"] is True


def test_admin_can_demote_when_another_admin_remains(client, auth, admin, make_user):
    second = make_user("root2", is_admin=True)
    response = client.patch(
        f"{USERS}/{second['id']}", json={"is_admin": False}, headers=auth.headers_for(admin)
    )
    assert response.status_code == 200 and response.get_json()["is_admin"] is False


def test_admin_deletes_user_and_frees_names(client, auth, admin, user):
    pair = auth.login("ada")
    headers = auth.headers_for(admin)
    response = client.delete(f"{USERS}/{user['id']}", headers=headers)
    assert response.status_code == 204 and response.data == b""
    assert_problem(client.get(ME, headers=auth.bearer(pair["access_token"])), 401)
    assert_problem(client.post(REFRESH, json={"refresh_token": pair["refresh_token"]}), 401)
    assert_problem(client.delete(f"{USERS}/{user['id']}", headers=headers), 404)
    again = client.post(
        USERS,
        json={"email": "ada@example.com", "username": "ada", "password": NEW_PASSWORD},
        headers=headers,
    )
    assert again.status_code == 201


def test_admin_revokes_user_sessions(client, auth, admin, user):
    pairs = [auth.login("ada") for _ in range(2)]
    headers = auth.headers_for(admin)
    response = client.delete(f"{USERS}/{user['id']}/sessions", headers=headers)
    assert response.status_code == 200
    assert response.get_json()["sessions_revoked"] == 2 and response.get_json()["message"]
    for pair in pairs:
        assert_problem(client.get(ME, headers=auth.bearer(pair["access_token"])), 401)
    assert_problem(client.delete(f"{USERS}/999999/sessions", headers=headers), 404)
    assert client.get(SESSIONS, headers=headers).status_code == 200


def test_deactivated_users_token_is_refused_everywhere(client, auth, admin, user):
    headers = auth.headers_for(user)
    client.patch(
        f"{USERS}/{user['id']}", json={"is_active": False}, headers=auth.headers_for(admin)
    )
    for method, url in (("get", ME), ("get", SESSIONS), ("get", f"{USERS}/{user['id']}")):
        assert_problem(getattr(client, method)(url, headers=headers), 401)


def test_two_admins_demoting_each_other_at_once_leave_one(app, auth, admin, make_user):
    """The last-admin guard holds when two admins race to demote each other."""
    second = make_user("root2", is_admin=True)
    headers = [auth.headers_for(admin), auth.headers_for(second)]
    targets = [second["id"], admin["id"]]
    barrier = threading.Barrier(2)

    def demote(n):
        client = app.test_client()
        barrier.wait()
        return client.patch(
            f"{USERS}/{targets[n]}", json={"is_admin": False}, headers=headers[n]
        ).status_code

    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = sorted(pool.map(demote, range(2)))
    # Both pass the admin check and the guard stops the second (409), or the
    # first commits before the second is checked, which then is no admin (403).
    assert statuses in ([200, 403], [200, 409])
    with app.app_context():
        remaining = db.session.execute(
            select(func.count(User.id)).where(User.is_admin, User.is_active)
        ).scalar_one()
    assert remaining == 1


def test_search_folds_case_beyond_ascii(client, auth, admin, make_user):
    make_user("aada", full_name="Åda Ærlig")
    headers = auth.headers_for(admin)
    for query in ("Åda", "åda", "ÆRLIG"):
        response = client.get(f"{USERS}?q={query}", headers=headers)
        assert response.headers["X-Total-Count"] == "1", query


@pytest.mark.parametrize("user_id", ["-1", "0", "99999999999999999999"])
def test_odd_user_ids_follow_the_contract(client, auth, user, admin, user_id):
    assert_problem(client.get(f"{USERS}/{user_id}"), 401)
    assert_problem(client.get(f"{USERS}/{user_id}", headers=auth.headers_for(user)), 403)
    assert_problem(client.get(f"{USERS}/{user_id}", headers=auth.headers_for(admin)), 404)


def test_admin_create_422_names_every_invalid_field_at_once(client, auth, admin):
    body = {"email": "nope", "username": "newbie", "password": "short"}
    response = client.post(USERS, json=body, headers=auth.headers_for(admin))
    assert set(assert_problem(response, 422)["errors"]) == {"email", "password"}
    body = {"email": "newbie@example.com", "username": "newbie", "password": NEW_PASSWORD}
    assert client.post(USERS, json=body, headers=auth.headers_for(admin)).status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        {"email": "nope", "password": "short"},
        {"username": "x", "password": "12345678"},
        # The password's fault shows only against the account's current username.
        {"email": "nope", "password": "ada-lovelace-99"},
        {"full_name": "x" * 101, "password": "ada-lovelace-99"},
    ],
    ids=["email+length", "username+common", "email+current-username", "name+current-username"],
)
def test_profile_update_422_names_every_invalid_field_at_once(client, auth, user, body):
    headers = auth.headers_for(user)
    before = client.get(ME, headers=headers).get_json()
    response = client.patch(ME, json={**body, "current_password": PASSWORD}, headers=headers)
    errors = assert_problem(response, 422)["errors"]
    assert set(errors) == set(body)
    assert client.get(ME, headers=headers).get_json() == before


@pytest.mark.parametrize(
    "body",
    [
        {"email": "nope", "password": "short"},
        {"email": "nope", "password": "ada-lovelace-99"},
    ],
    ids=["email+length", "email+current-username"],
)
def test_admin_update_422_names_every_invalid_field_at_once(client, auth, admin, user, body):
    headers = auth.headers_for(admin)
    response = client.patch(f"{USERS}/{user['id']}", json=body, headers=headers)
    assert set(assert_problem(response, 422)["errors"]) == set(body)
    assert client.post(LOGIN, json={"username": "ada", "password": PASSWORD}).status_code == 200


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"username": "Horse"}, "username"),  # PASSWORD is correct-horse-battery-staple
        ({"email": "battery@example.com"}, "email"),
        ({"username": "staple", "email": "ada2@example.com"}, "username"),
    ],
    ids=["username", "email", "username-with-email"],
)
def test_a_name_change_is_checked_against_the_password(client, auth, user, change, field):
    """A new username or email that the password contains is refused: the password
    would contain the account's own name. Checked once current_password is verified."""
    headers = auth.headers_for(user)
    before = client.get(ME, headers=headers).get_json()
    response = client.patch(ME, json={**change, "current_password": PASSWORD}, headers=headers)
    errors = assert_problem(response, 422)["errors"]
    assert field in errors and "password" in errors[field][0].lower()
    assert client.get(ME, headers=headers).get_json() == before
    # A wrong current_password is answered as such: the check is no password oracle.
    wrong = client.patch(ME, json={**change, "current_password": "nope-nope-1"}, headers=headers)
    assert_problem(wrong, 400)
    # Positive control: a name the password does not contain goes through.
    fine = {
        key: value.replace("Horse", "grace").replace("battery", "grace").replace("staple", "grace")
        for key, value in change.items()
    }
    response = client.patch(ME, json={**fine, "current_password": PASSWORD}, headers=headers)
    assert response.status_code == 200, response.get_json()


def test_a_new_password_is_checked_against_the_new_names(client, auth, admin, user):
    headers = auth.headers_for(user)
    body = {"username": "bytes", "password": "bytes-and-bits-1", "current_password": PASSWORD}
    assert "password" in assert_problem(client.patch(ME, json=body, headers=headers), 422)["errors"]
    body = {
        "email": "qubit@example.com",
        "password": "qubits-galore-1",
        "current_password": PASSWORD,
    }
    assert "password" in assert_problem(client.patch(ME, json=body, headers=headers), 422)["errors"]
    body = {"username": "bytes", "password": "qubits-galore-1", "current_password": PASSWORD}
    assert client.patch(ME, json=body, headers=headers).status_code == 200
