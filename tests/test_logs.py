"""A full run against a live gunicorn: every log line is JSON, the access log
carries request ids, and no token, password or hash reaches any line."""

import json
import sqlite3
import urllib.error
import urllib.parse
import urllib.request

import pytest

from testing.live_server import LiveServer, migrate

pytestmark = pytest.mark.slow

PASSWORD = "first-long-passphrase-42"
NEW_PASSWORD = "second-long-passphrase-43"
ADMIN_PASSWORD = "admin-long-passphrase-44"


class Client:
    """Talk to the live server, each request with its own X-Request-ID."""

    def __init__(self, base_url):
        self.base_url = base_url
        self.sent = []  # (request id, method, path, status)

    def call(self, method, path, body=None, *, token=None, form=False):
        headers = {"X-Request-ID": f"flow-{len(self.sent) + 1:02d}"}
        data = None
        if body is not None and form:
            data = urllib.parse.urlencode(body).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(
            self.base_url + path, data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, payload, answer = response.status, response.read(), response.headers
        except urllib.error.HTTPError as error:
            with error:
                status, payload, answer = error.code, error.read(), error.headers
        assert answer["X-Request-ID"] == headers["X-Request-ID"]
        self.sent.append((headers["X-Request-ID"], method, path, status))
        is_json = "json" in answer.get("Content-Type", "")
        return status, json.loads(payload) if is_json and payload else None


def test_a_full_run_logs_json_lines_with_request_ids_and_no_secrets(tmp_path):
    db_path = tmp_path / "logs.db"
    url = f"sqlite:///{db_path}"
    migrate(url)
    log_path = tmp_path / "gunicorn.log"
    env = {"LOG_LEVEL": "debug", "METRICS_ENABLED": "true"}
    secrets = {PASSWORD, NEW_PASSWORD, ADMIN_PASSWORD}

    with LiveServer(url, workers=2, env=env, log_path=log_path) as server:
        secrets.add(server.env["SECRET_KEY"])
        api = Client(server.url)
        status, pair = api.call(
            "POST",
            "/api/v1/auth/register",
            {"email": "ada@example.com", "username": "ada", "password": PASSWORD},
        )
        assert status == 201
        status, form_pair = api.call(
            "POST",
            "/api/v1/auth/login",
            {"grant_type": "password", "username": "ada", "password": PASSWORD},
            form=True,
        )
        assert status == 200
        assert (
            api.call("POST", "/api/v1/auth/login", {"username": "ada", "password": "x" * 9})[0]
            == 401
        )
        assert api.call("GET", "/api/v1/users/me", token=pair["access_token"])[0] == 200
        status, _ = api.call(
            "PATCH",
            "/api/v1/users/me",
            {"password": NEW_PASSWORD, "current_password": PASSWORD},
            token=pair["access_token"],
        )
        assert status == 200
        status, rotated = api.call(
            "POST", "/api/v1/auth/refresh", {"refresh_token": pair["refresh_token"]}
        )
        assert status == 200
        reuse = api.call("POST", "/api/v1/auth/refresh", {"refresh_token": pair["refresh_token"]})
        assert reuse[0] == 401
        status, new_pair = api.call(
            "POST", "/api/v1/auth/login", {"username": "ada@example.com", "password": NEW_PASSWORD}
        )
        assert status == 200
        assert api.call("GET", "/api/v1/auth/sessions", token=new_pair["access_token"])[0] == 200
        bad_token = new_pair["access_token"][:-4] + "AAAA"
        assert api.call("GET", "/api/v1/users/me", token=bad_token)[0] == 401
        assert api.call("POST", "/api/v1/auth/register", {"password": PASSWORD})[0] == 422
        status, _ = api.call(
            "POST", "/api/v1/auth/logout", {"refresh_token": new_pair["refresh_token"]}
        )
        assert status == 200
        assert api.call("GET", "/metrics")[0] == 200
        tokens = {
            token
            for issued in (pair, form_pair, rotated, new_pair)
            for token in (issued["access_token"], issued["refresh_token"])
        } | {bad_token}

    with sqlite3.connect(db_path) as connection:
        hashes = {row[0] for row in connection.execute("SELECT password_hash FROM users")}
    connection.close()
    lines = log_path.read_text().splitlines()
    assert lines

    records = [json.loads(line) for line in lines]  # every line is one JSON object
    for line in lines:
        for secret in secrets | tokens | hashes:
            assert secret not in line, f"a secret reached the log: {line[:200]}"
        # Not even a token's signature or a hash's salt on its own.
        for token in tokens:
            assert token.rsplit(".", 1)[-1] not in line
        for password_hash in hashes:
            assert password_hash[-31:] not in line

    access = {r["request_id"]: r for r in records if r["logger"] == "gunicorn.access"}
    for request_id, method, path, status in api.sent:
        entry = access[request_id]
        assert (entry["method"], entry["path"], entry["status"]) == (method, path, status)
        assert isinstance(entry["duration_ms"], float)
    assert {r["logger"] for r in records} >= {"gunicorn.error", "gunicorn.access"}
