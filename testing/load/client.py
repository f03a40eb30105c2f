"""A small JSON client over http.client: one connection per thread, kept alive when
the server allows it (gunicorn's sync workers close after every response)."""

import base64
import http.client
import json
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

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
    """`source`: the local address to send from (a multi-homed client; None: any)."""

    def __init__(self, base_url, *, timeout=30.0, user_agent="authsvc-load", source=None):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port
        self.timeout = timeout
        self.user_agent = user_agent
        self.source = source
        self.connection = None

    def request(self, method, path, body=None, token=None, *, form=None, basic=None):
        """Send one request and read the whole reply; raise a CONNECTION_ERRORS one.

        `body` goes as JSON, `form` (a dict) form-encoded; `token` is a Bearer
        token, `basic` a (user, password) pair for HTTP Basic.
        """
        headers = {"User-Agent": self.user_agent, "Accept": "application/json"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        elif form is not None:
            payload = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        elif basic is not None:
            pair = base64.b64encode(":".join(basic).encode()).decode()
            headers["Authorization"] = f"Basic {pair}"
        if self.connection is None:
            source = (self.source, 0) if self.source else None
            self.connection = http.client.HTTPConnection(
                self.host, self.port, timeout=self.timeout, source_address=source
            )
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
