"""Who may call what: every endpoint x every kind of caller, in one table.

Callers: anonymous (no token), user (ada, whose resources the paths name),
another user (bob), admin (root), and a deactivated user (dora, whose session
is still live: she was switched off behind the use case's back, so only the
per-request check stands between her and the API).
"""

import pytest
from sqlalchemy import update

from authsvc.extensions import db
from authsvc.models import User
from tests.helpers import PASSWORD, claims_of

ROLES = ("anonymous", "user", "other", "admin", "deactivated")
MISSING_ID = 2_000_000

# Bodies may name the world they run in: "{n}" is its number.
NEW_USER = {"email": "newbie{n}@example.com", "username": "newbie{n}", "password": PASSWORD}

# method, path, body, credential ("access": Bearer header; "refresh": the role's
# refresh token in the body), then the status for each of ROLES.
MATRIX = [
    ("GET", "/health", None, "access", (200, 200, 200, 200, 200)),
    ("GET", "/openapi.json", None, "access", (200, 200, 200, 200, 200)),
    ("POST", "/api/v1/auth/register", NEW_USER, "access", (201, 201, 201, 201, 201)),
    (
        "POST",
        "/api/v1/auth/login",
        {"username": "ada{n}", "password": PASSWORD},
        "access",
        (200, 200, 200, 200, 200),
    ),
    ("POST", "/api/v1/auth/refresh", {}, "refresh", (401, 200, 200, 200, 401)),
    ("POST", "/api/v1/auth/logout", {}, "refresh", (401, 200, 200, 200, 401)),
    ("POST", "/api/v1/auth/logout-all", None, "access", (401, 200, 200, 200, 401)),
    ("GET", "/api/v1/auth/sessions", None, "access", (401, 200, 200, 200, 401)),
    ("DELETE", "/api/v1/auth/sessions/{ada_sid}", None, "access", (401, 204, 404, 404, 401)),
    ("GET", "/api/v1/users/me", None, "access", (401, 200, 200, 200, 401)),
    ("PUT", "/api/v1/users/me", {"full_name": "X"}, "access", (401, 200, 200, 200, 401)),
    ("PATCH", "/api/v1/users/me", {"full_name": "X"}, "access", (401, 200, 200, 200, 401)),
    ("GET", "/api/v1/users", None, "access", (401, 403, 403, 200, 401)),
    ("POST", "/api/v1/users", NEW_USER, "access", (401, 403, 403, 201, 401)),
    ("GET", "/api/v1/users/{ada_id}", None, "access", (401, 200, 403, 200, 401)),
    ("PUT", "/api/v1/users/{ada_id}", {"full_name": "X"}, "access", (401, 403, 403, 200, 401)),
    ("PATCH", "/api/v1/users/{ada_id}", {"full_name": "X"}, "access", (401, 403, 403, 200, 401)),
    ("DELETE", "/api/v1/users/{ada_id}", None, "access", (401, 403, 403, 204, 401)),
    ("DELETE", "/api/v1/users/{ada_id}/sessions", None, "access", (401, 403, 403, 200, 401)),
    # An id that does not exist: non-admins learn nothing (403), admins get 404.
    ("GET", "/api/v1/users/{missing_id}", None, "access", (401, 403, 403, 404, 401)),
    ("PUT", "/api/v1/users/{missing_id}", {"full_name": "X"}, "access", (401, 403, 403, 404, 401)),
    (
        "PATCH",
        "/api/v1/users/{missing_id}",
        {"full_name": "X"},
        "access",
        (401, 403, 403, 404, 401),
    ),
    ("DELETE", "/api/v1/users/{missing_id}", None, "access", (401, 403, 403, 404, 401)),
    ("DELETE", "/api/v1/users/{missing_id}/sessions", None, "access", (401, 403, 403, 404, 401)),
]


@pytest.fixture
def fresh_world(app, auth, make_user):
    """Build a new set of callers (world n), log each in, switch its dora off
    behind the use case's back; return their token pairs and the path names."""
    worlds = iter(range(1, 1000))

    def build():
        n = next(worlds)
        people = {
            "user": make_user(f"ada{n}"),
            "other": make_user(f"bob{n}"),
            "admin": make_user(f"root{n}", is_admin=True),
            "deactivated": make_user(f"dora{n}"),
        }
        pairs = {role: auth.login(person["username"]) for role, person in people.items()}
        with app.app_context():
            dora = people["deactivated"]["id"]
            db.session.execute(update(User).where(User.id == dora).values(is_active=False))
            db.session.commit()
        names = {
            "n": n,
            "ada_id": people["user"]["id"],
            "ada_sid": claims_of(pairs["user"]["access_token"])["sid"],
            "missing_id": MISSING_ID,
        }
        return pairs, names

    return build


def filled(body, names):
    if body is None:
        return None
    return {
        key: value.format(**names) if isinstance(value, str) else value
        for key, value in body.items()
    }


@pytest.mark.parametrize(
    ("method", "path", "body", "credential", "expected"),
    MATRIX,
    ids=[f"{method} {path}" for method, path, *_ in MATRIX],
)
def test_authorization_matrix(
    client, fresh_world, subtests, method, path, body, credential, expected
):
    """Each caller on a world of its own, so no call sees another's side effects."""
    for role, status in zip(ROLES, expected, strict=True):
        pairs, names = fresh_world()
        pair = pairs.get(role)
        headers, json = {}, filled(body, names)
        if pair and credential == "access":
            headers["Authorization"] = f"Bearer {pair['access_token']}"
        if pair and credential == "refresh":
            json = {**json, "refresh_token": pair["refresh_token"]}
        response = client.open(path.format(**names), method=method, json=json, headers=headers)
        with subtests.test(role=role):
            assert response.status_code == status, response.get_data(as_text=True)
            if status >= 400:
                assert response.mimetype == "application/problem+json"
            if status == 401:
                assert response.headers["WWW-Authenticate"].startswith("Bearer")
