"""Mass assignment: fields nobody may set through a body are refused (422) and
leave everything as it was."""

import pytest

from tests.helpers import LOGIN, LOGOUT, ME, PASSWORD, REFRESH, REGISTER, USERS, assert_problem

# Fields a client must never set, with values an attacker would like.
PROTECTED = {
    "is_admin": True,
    "is_active": False,
    "id": 999,
    "created_at": "2000-01-01T00:00:00+00:00",
    "updated_at": "2000-01-01T00:00:00+00:00",
    "password_hash": "$2b$04$" + "a" * 53,
    "username_key": "root",
}
NEW_USER = {"email": "eve@example.com", "username": "eve", "password": PASSWORD}

# (method, path, a valid body, who calls, fields that body may not carry)
BODIES = [
    ("POST", REGISTER, NEW_USER, None, PROTECTED),
    ("POST", LOGIN, {"username": "ada", "password": PASSWORD}, None, PROTECTED),
    ("POST", REFRESH, {}, None, PROTECTED),
    ("POST", LOGOUT, {}, None, PROTECTED),
    ("PUT", ME, {"full_name": "Eve"}, "user", PROTECTED),
    ("PATCH", ME, {"full_name": "Eve"}, "user", PROTECTED),
    # Admins may set is_admin and is_active; the rest stays out of reach.
    *[
        (
            method,
            path,
            body,
            "admin",
            {k: v for k, v in PROTECTED.items() if not k.startswith("is_")},
        )
        for method, path, body in [
            ("POST", USERS, NEW_USER),
            ("PUT", f"{USERS}/{{ada}}", {"full_name": "Eve"}),
            ("PATCH", f"{USERS}/{{ada}}", {"full_name": "Eve"}),
        ]
    ],
]


def snapshot(client, auth, admin):
    """Every user as the admin sees them (ids, flags, timestamps, names)."""
    return client.get(USERS, headers=auth.headers_for(admin)).get_json()


@pytest.mark.parametrize(
    ("method", "path", "body", "caller", "fields"),
    BODIES,
    ids=[f"{method} {path}" for method, path, *_ in BODIES],
)
def test_protected_fields_are_422_and_change_nothing(
    client, auth, user, admin, subtests, method, path, body, caller, fields
):
    people = {"user": user, "admin": admin}
    headers = auth.headers_for(people[caller]) if caller else {}
    before = snapshot(client, auth, admin)
    for field, value in fields.items():
        with subtests.test(field=field):
            response = client.open(
                path.format(ada=user["id"]),
                method=method,
                json={**body, field: value},
                headers=headers,
            )
            errors = assert_problem(response, 422)["errors"]
            assert field in errors
    assert snapshot(client, auth, admin) == before
    # The same body without the extra field is accepted: the 422 was for the field.
    if path not in (REFRESH, LOGOUT):
        response = client.open(
            path.format(ada=user["id"]), method=method, json=body, headers=headers
        )
        assert response.status_code < 300, response.get_json()


def test_form_encoded_login_refuses_unknown_fields(client, user):
    form = {"grant_type": "password", "username": "ada", "password": PASSWORD, "is_admin": "1"}
    assert "is_admin" in assert_problem(client.post(LOGIN, data=form), 422)["errors"]


def test_query_string_cannot_smuggle_fields_into_a_body(client, auth, user, admin):
    headers = auth.headers_for(user)
    response = client.patch(f"{ME}?is_admin=true", json={"full_name": "Eve"}, headers=headers)
    assert response.status_code == 200
    assert response.get_json()["is_admin"] is False


def test_nested_or_duplicated_keys_do_not_sneak_in(client, auth, user):
    headers = {**auth.headers_for(user), "Content-Type": "application/json"}
    # Duplicate keys: the JSON parser keeps the last; the schema still refuses is_admin.
    raw = '{"full_name": "Eve", "is_admin": false, "is_admin": true}'
    assert_problem(client.patch(ME, data=raw, headers=headers), 422)
    response = client.patch(ME, json={"full_name": {"is_admin": True}}, headers=headers)
    assert_problem(response, 422)
    assert client.get(ME, headers=headers).get_json()["is_admin"] is False
