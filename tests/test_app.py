"""create_app (authsvc/__init__.py): CORS for the configured origins only, and Alembic
left to the command line."""

from authsvc.extensions import db
from tests.helpers import make_app


def test_cors_preflight_for_allowed_origin(client):
    response = client.options(
        "/api/v1/users/me",
        headers={
            "Origin": "http://allowed.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )
    assert response.headers["Access-Control-Allow-Origin"] == "http://allowed.example"
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed


def test_cors_exposes_total_count_and_retry_after(client, auth, admin):
    response = client.get(
        "/api/v1/users", headers={**auth.headers_for(admin), "Origin": "http://allowed.example"}
    )
    exposed = response.headers["Access-Control-Expose-Headers"].lower()
    assert "x-total-count" in exposed and "retry-after" in exposed


def test_cors_refuses_other_origins(client):
    response = client.get("/health", headers={"Origin": "http://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_no_cors_origins_means_no_cors_headers(database_url):
    """With BACKEND_CORS_ORIGINS empty, no origin is allowed, preflight included."""
    app = make_app(database_url, BACKEND_CORS_ORIGINS=[])
    client = app.test_client()
    preflight = client.options(
        "/api/v1/users/me",
        headers={"Origin": "http://allowed.example", "Access-Control-Request-Method": "GET"},
    )
    simple = client.get("/health", headers={"Origin": "http://allowed.example"})
    for response in (preflight, simple):
        assert not [name for name, _ in response.headers if name.startswith("Access-Control")]
    with app.app_context():
        db.engine.dispose()


def test_servers_leave_alembic_to_the_command_line(app):
    """Flask-Migrate is registered only when the `flask` command loads the app."""
    assert "migrate" not in app.extensions
