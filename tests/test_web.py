"""Headers on every response, CORS, and the docs served without a CDN."""

import re

from authsvc.extensions import db
from tests.helpers import make_app


def test_security_headers_and_no_store(client, auth, user):
    response = client.get("/api/v1/users/me", headers=auth.headers_for(user))
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


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


def test_openapi_spec_lists_every_endpoint(client):
    spec = client.get("/openapi.json").get_json()
    paths = spec["paths"]
    for path in (
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/auth/logout-all",
        "/api/v1/auth/sessions",
        "/api/v1/auth/sessions/{session_id}",
        "/api/v1/users/me",
        "/api/v1/users",
        "/api/v1/users/{user_id}",
        "/api/v1/users/{user_id}/sessions",
        "/health",
    ):
        assert path in paths, path
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert paths["/api/v1/users/me"]["get"]["security"]


def test_docs_pages_load_only_local_assets(client):
    for page in ("/docs", "/redoc"):
        response = client.get(page)
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert "Content-Security-Policy" in response.headers
        sources = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert sources, page
        for source in sources:
            assert source.startswith("/"), f"{page} loads {source} from elsewhere"
            asset = client.get(source)
            assert asset.status_code == 200, source
            asset.close()


def test_sqlite_runs_in_wal_with_busy_timeout_and_foreign_keys(tmp_path):
    """Several gunicorn workers share one file: readers never block the writer, a
    writer waits for another instead of failing, and foreign keys are enforced."""
    app = make_app(f"sqlite:///{tmp_path / 'wal.db'}")
    with app.app_context():
        connection = db.session.connection()
        pragma = {
            name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "busy_timeout", "foreign_keys", "synchronous")
        }
        db.session.remove()
        db.engine.dispose()
    assert pragma == {
        "journal_mode": "wal",
        "busy_timeout": 10000,
        "foreign_keys": 1,
        "synchronous": 2,
    }  # FULL


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
