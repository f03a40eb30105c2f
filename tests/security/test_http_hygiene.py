"""HTTP hygiene: headers on every response, bodies over the limit, ids out of range
answered like missing ones."""

import pytest

from tests.helpers import LOGIN, ME, PASSWORD, USERS, assert_problem


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
