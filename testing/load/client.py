"""A small JSON client over http.client: one connection per thread, kept alive when
the server allows it (gunicorn's sync workers close after every response)."""

import http.client
import json
from dataclasses import dataclass, field
from urllib.parse import urlsplit

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
LOGOUT_ALL = "/api/v1/auth/logout-all"
ME = "/api/v1/users/me"

# What a dropped, refused or reset connection raises; a client counts these.
CONNECTION_ERRORS = (OSError, http.client.HTTPException)


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    headers: dict = field(default_factory=dict, compare=False)

    def json(self):
        return json.loads(self.body) if self.body else None


class ApiClient:
    def __init__(self, base_url, *, timeout=30.0, user_agent="authsvc-load"):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port
        self.timeout = timeout
        self.user_agent = user_agent
        self.connection = None

    def request(self, method, path, body=None, token=None):
        """Send one request and read the whole reply; raise a CONNECTION_ERRORS one."""
        headers = {"User-Agent": self.user_agent, "Accept": "application/json"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if self.connection is None:
            self.connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            self.connection.request(method, path, body=payload, headers=headers)
            response = self.connection.getresponse()
            data = response.read()
        except BaseException:
            self.close()
            raise
        if response.will_close:
            self.close()
        return Reply(response.status, data, dict(response.getheaders()))

    def post(self, path, body=None, token=None):
        return self.request("POST", path, body, token)

    def get(self, path, token=None):
        return self.request("GET", path, token=token)

    def close(self):
        if self.connection is not None:
            self.connection.close()
            self.connection = None
