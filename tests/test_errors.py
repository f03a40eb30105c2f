"""Every error, from every layer, is application/problem+json."""

import pytest
from werkzeug.exceptions import Conflict, HTTPException

from authsvc.extensions import api
from tests.helpers import assert_problem


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v1/nope", 404),
        ("DELETE", "/health", 405),
        ("GET", "/api/v1/auth/register", 405),
    ],
)
def test_routing_errors_are_problems(client, method, path, status):
    assert_problem(client.open(path, method=method), status)


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
