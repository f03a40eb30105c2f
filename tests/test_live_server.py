"""Smoke test: the migrated schema served by a real gunicorn answers /health."""

import json
import urllib.request

import pytest

from testing.live_server import LiveServer, migrate


@pytest.mark.slow
def test_gunicorn_serves_migrated_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'live.db'}"
    migrate(url)
    with (
        LiveServer(url, workers=2) as server,
        urllib.request.urlopen(f"{server.url}/health", timeout=5) as response,
    ):
        assert json.load(response) == {"status": "ok", "database": "ok"}
