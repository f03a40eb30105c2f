"""Every error, from every layer, is application/problem+json."""

import pytest
from werkzeug.exceptions import Conflict, HTTPException

from authsvc.extensions import api
from tests.helpers import assert_problem


def test_unknown_route_is_404_problem(client):
    assert_problem(client.get("/api/v1/nothing-here"), 404)


def test_wrong_method_is_405_problem_with_allow(client):
    response = client.delete("/api/v1/auth/login")
    assert_problem(response, 405)
    assert "POST" in response.headers["Allow"]


def test_unexpected_exception_is_500_without_stack_trace(app, client, monkeypatch):
    from authsvc import accounts

    def explode(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(accounts, "authenticate", explode)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = client.post("/api/v1/auth/login", json={"username": "a", "password": "b"})
    body = assert_problem(response, 500)
    assert "secret internals" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    assert body["detail"] == "An unexpected error occurred"


@pytest.mark.parametrize(
    ("headers", "challenge"),
    [
        # Another scheme sends no Bearer token: no error code (RFC 6750 section 3.1).
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "Bearer"),
        ({"Authorization": "Bearer"}, 'Bearer error="invalid_token"'),
        ({"Authorization": "Bearer not.a.jwt"}, 'Bearer error="invalid_token"'),
        ({"Authorization": "Bearer a b c"}, 'Bearer error="invalid_token"'),
    ],
)
def test_bad_authorization_header_is_401(client, headers, challenge):
    response = client.get("/api/v1/users/me", headers=headers)
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == challenge


def test_token_in_query_string_is_ignored(client, auth, user):
    token = auth.login("ada")["access_token"]
    response = client.get(f"/api/v1/users/me?access_token={token}&jwt={token}")
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
def test_bearer_scheme_ignores_case(client, auth, user, scheme):
    token = auth.login("ada")["access_token"]
    response = client.get("/api/v1/users/me", headers={"Authorization": f"{scheme} {token}"})
    assert response.status_code == 200


def test_http_errors_reach_the_problem_builder_through_the_api_hook(app):
    """flask-smorest's documented override point answers every HTTPException, whatever
    the order handlers were registered in."""
    assert app.error_handler_spec[None][None][HTTPException] == api.handle_http_exception
    with app.test_request_context():
        response = api.handle_http_exception(Conflict("taken"))
    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["detail"] == "taken"


def test_a_status_no_standard_names_gets_a_generic_title(app):
    from authsvc.errors import problem

    with app.test_request_context():
        assert problem(599, "odd").get_json()["title"] == "Error"
        assert problem(418).get_json()["title"] == "I'm a Teapot"
