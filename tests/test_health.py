"""GET /health pings the database."""

from sqlalchemy.exc import OperationalError

from authsvc.extensions import db


def test_health_ok(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_health_503_when_database_fails(client, monkeypatch):
    def broken(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    with client.application.app_context():
        monkeypatch.setattr(db.session, "execute", broken)
        response = client.get("/health")
    assert response.status_code == 503
    assert response.get_json() == {"status": "error", "database": "unavailable"}
