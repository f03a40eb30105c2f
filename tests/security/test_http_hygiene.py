"""HTTP hygiene: headers on every response, errors from every layer as problems,
production refusing weak keys, ids out of range answered like missing ones."""

import pytest

from authsvc import create_app
from config import DEV_SECRET_KEY
from tests.helpers import LOGIN, ME, PASSWORD, REGISTER, USERS, assert_problem


@pytest.mark.parametrize("path", ["/health", ME, LOGIN, "/api/v1/nope", "/openapi.json"])
def test_every_response_has_the_security_headers(client, path):
    response = client.get(path)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_token_and_user_responses_are_never_cached(client, auth, user):
    pair = client.post(LOGIN, json={"username": "ada", "password": PASSWORD})
    me = client.get(ME, headers=auth.bearer(pair.get_json()["access_token"]))
    for response in (pair, me):
        assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_have_a_csp_that_allows_only_the_apps_own_assets(client, path):
    response = client.get(path)
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'self'" in csp
    page = response.get_data(as_text=True)
    assert "https://" not in page.replace("https://github.com", "")  # no CDN


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v1/nope", 404),
        ("DELETE", "/health", 405),
        ("GET", REGISTER, 405),
    ],
)
def test_routing_errors_are_problems(client, method, path, status):
    assert_problem(client.open(path, method=method), status)


def test_body_over_64_kib_is_413_problem(client):
    response = client.post(LOGIN, data="x" * (64 * 1024 + 1), content_type="application/json")
    assert_problem(response, 413)


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("user_id", [2**31, 10**30])
def test_user_id_beyond_any_row_is_404_for_admins_whatever_the_method(
    client, auth, admin, method, user_id
):
    """Werkzeug answered 405 (Allow: GET) to PUT/PATCH/DELETE of an id past the
    converter's maximum, while GET said 404: one answer for a missing user."""
    headers = auth.headers_for(admin)
    body = {"full_name": "X"} if method in ("PUT", "PATCH") else None
    response = client.open(f"{USERS}/{user_id}", method=method, json=body, headers=headers)
    assert_problem(response, 404)
    sessions = client.delete(f"{USERS}/{user_id}/sessions", headers=headers)
    assert_problem(sessions, 404)


def test_user_id_beyond_any_row_is_403_for_non_admins(client, auth, user):
    response = client.put(
        f"{USERS}/{2**31}", json={"full_name": "X"}, headers=auth.headers_for(user)
    )
    assert_problem(response, 403)


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (None, "development key"),
        (DEV_SECRET_KEY, "development key"),
        ("short-but-not-dev", "at least 32 bytes"),
        ("\u00e9" * 15, "at least 32 bytes"),  # 15 characters, 30 bytes
    ],
)
def test_production_refuses_a_weak_secret_key(database_url, monkeypatch, key, message):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    settings = {"APP_ENV": "production", "SQLALCHEMY_DATABASE_URI": database_url}
    if key is not None:
        settings["SECRET_KEY"] = key
    with pytest.raises(RuntimeError, match=message):
        create_app(settings)


def test_production_accepts_a_long_random_key(database_url):
    app = create_app(
        {
            "APP_ENV": "production",
            "SECRET_KEY": "k" * 32,
            "JWT_ISSUER": "https://auth.example.com",
            "WEBAUTHN_RP_ID": "example.com",
            "WEBAUTHN_ORIGINS": "https://accounts.example.com",
            # Its own database: its keys, sealed with its own SECRET_KEY, stay there.
            "SQLALCHEMY_DATABASE_URI": "sqlite://",
            "SMTP_HOST": "mail.example",
        }
    )
    assert app.config["JWT_ALGORITHM"] == "ES256"
    assert app.config["BCRYPT_HANDLE_LONG_PASSWORDS"] is True
    assert app.config["MAX_CONTENT_LENGTH"] == 64 * 1024
