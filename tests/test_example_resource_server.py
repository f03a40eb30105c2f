"""examples/resource_server.py against a live authsvc, through a full key rotation."""

import os
import socket
import time
import uuid

import jwt as pyjwt
import pytest
import requests

from testing.databases import throwaway_database
from testing.live_server import BIN, ROOT, LiveServer, flask_command, free_port, migrate, spawn
from tests.helpers import PASSWORD

pytestmark = pytest.mark.slow

SETTINGS = {
    "SECRET_KEY": "example-secret-key-0123456789-abcdefghijklm",
    "KEYS_REFRESH_SECONDS": "3",
}


def flask(url, *args):
    return flask_command(url, *args, env={**SETTINGS, "APP_ENV": "testing"}, timeout=60)


def wait_for_port(port, process, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the example exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the example did not start")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """authsvc (2 workers, SQLite) and the example resource server in front of it."""
    directory = tmp_path_factory.mktemp("example")
    with throwaway_database("sqlite", "example", directory) as url:
        migrate(url)
        authsvc = LiveServer(url, workers=2, env=SETTINGS, log_path=directory / "a.log")
        issuer = authsvc.env["JWT_ISSUER"] = authsvc.url  # known before it starts
        with authsvc:
            credentials = dict(
                line.split(": ", 1)
                for line in flask(url, "clients", "create", "example").split("\n")
                if line
            )
            example_port = free_port()
            env = {
                **os.environ,
                "AUTHSVC_ISSUER": issuer,
                "AUTHSVC_CLIENT_ID": credentials["client_id"],
                "AUTHSVC_CLIENT_SECRET": credentials["client_secret"],
            }
            process = spawn(
                [
                    str(BIN / "gunicorn"),
                    "--bind",
                    f"127.0.0.1:{example_port}",
                    "--workers",
                    "1",
                    "examples.resource_server:app",
                ],
                directory / "example.log",
                cwd=ROOT,
                env=env,
            )
            try:
                wait_for_port(example_port, process)
                yield authsvc, f"http://127.0.0.1:{example_port}", url
            finally:
                process.terminate()
                process.wait(timeout=10)


def register(base):
    name = f"e{uuid.uuid4().hex[:12]}"
    body = {"email": f"{name}@example.com", "username": name, "password": PASSWORD}
    reply = requests.post(f"{base}/api/v1/auth/register", json=body, timeout=10)
    assert reply.status_code == 201, reply.text
    return name, reply.json()


def call(example, path, token):
    return requests.get(
        f"{example}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).status_code


def test_offline_and_introspection_through_a_full_rotation(stack):
    authsvc, example, url = stack
    name, before = register(authsvc.url)
    assert call(example, "/orders", before["access_token"]) == 200
    assert call(example, "/payments", before["access_token"]) == 200
    # A refresh token is no access token for the resource server, either way.
    assert call(example, "/orders", before["refresh_token"]) == 401
    assert call(example, "/payments", before["refresh_token"]) == 401
    assert call(example, "/orders", before["access_token"][:-4] + "AAAA") == 401

    old_kid = pyjwt.get_unverified_header(before["access_token"])["kid"]
    flask(url, "keys", "rotate")
    deadline = time.monotonic() + 30
    while True:
        reply = requests.post(
            f"{authsvc.url}/api/v1/auth/login",
            json={"username": name, "password": PASSWORD},
            timeout=10,
        ).json()
        if pyjwt.get_unverified_header(reply["access_token"])["kid"] != old_kid:
            after = reply
            break
        assert time.monotonic() < deadline, "authsvc never signed with the new key"
        time.sleep(0.5)
    # The new key was published one rotation ahead: the example knows it already.
    assert call(example, "/orders", after["access_token"]) == 200
    assert call(example, "/orders", before["access_token"]) == 200  # previous still verifies
    assert call(example, "/payments", after["access_token"]) == 200

    # Logout: introspection sees it at once; offline verification cannot.
    logout = requests.post(
        f"{authsvc.url}/api/v1/auth/logout",
        json={"refresh_token": after["refresh_token"]},
        timeout=10,
    )
    assert logout.status_code == 200
    assert call(example, "/payments", after["access_token"]) == 401
    assert call(example, "/orders", after["access_token"]) == 200
