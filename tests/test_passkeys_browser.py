"""Passkeys in a real browser: headless Chromium with a virtual authenticator drives
examples/passkeys.html (served from a static server on localhost) against a live gunicorn.

The page calls the real `navigator.credentials.create()` and `.get()`; the
DevTools protocol's WebAuthn domain stands in for the authenticator (CTAP2,
internal, resident keys, user verification). What the browser did and saw is
written to test-artifacts/browser/passkeys-report.json beside the screenshots.
"""

import json
import os
import urllib.request
import uuid

import pytest

from testing.browser import Browser, ClientOrigin, chromium_binary
from testing.live_server import ROOT, LiveServer, migrate

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        chromium_binary() is None and not os.environ.get("CI"),
        reason="chromium is not installed (apt-get install chromium); CI runs these",
    ),
]

ARTIFACTS = ROOT / "test-artifacts" / "browser"
PASSWORD = "correct-horse-battery-staple"
AUTHENTICATOR = {
    "protocol": "ctap2",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
    "automaticPresenceSimulation": True,
}


@pytest.fixture(scope="module")
def report():
    seen = {}
    yield seen
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "passkeys-report.json").write_text(json.dumps(seen, indent=2) + "\n")


@pytest.fixture(scope="module")
def pages():
    # examples/ on http://localhost:PORT: WebAuthn refuses IP-address origins.
    with ClientOrigin(directory=ROOT / "examples", hostname="localhost") as static:
        yield static


@pytest.fixture(scope="module")
def server(tmp_path_factory, pages):
    tmp = tmp_path_factory.mktemp("passkeys")
    url = f"sqlite:///{tmp / 'passkeys.db'}"
    migrate(url)
    env = {
        "BACKEND_CORS_ORIGINS": pages.origin,
        "WEBAUTHN_RP_ID": "localhost",
        "WEBAUTHN_ORIGINS": pages.origin,
    }
    log = tmp / "gunicorn.log"
    with LiveServer(url, workers=2, env=env, log_path=log) as live:
        live.api = f"http://localhost:{live.port}"
        yield live
    assert "Traceback" not in log.read_text(errors="replace")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("chromium")
    with Browser(tmp / "profile", log_path=tmp / "chromium.log") as chromium:
        yield chromium


def api(server, method, path, body=None, token=None):
    request = urllib.request.Request(
        server.url + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json"},
    )
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


class PasskeyPage:
    """The example page in a fresh tab, with its own virtual authenticator."""

    def __init__(self, browser, url, name):
        self.page = browser.new_page()
        self.name = name
        self.page.send("WebAuthn.enable", {"enableUI": False})
        self.authenticator = self.page.send(
            "WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR}
        )["authenticatorId"]
        self.page.navigate(url)

    def act(self, button, step):
        """Click a button and wait for the page's next result of `step`."""
        count = self.page.evaluate(
            f"window.passkeyResults.filter(r => r.step === {json.dumps(step)}).length"
        )
        self.page.click(button)
        return self.page.wait_for(
            f"""(() => {{
              const done = window.passkeyResults.filter(r => r.step === {json.dumps(step)});
              return done.length > {count} ? done[done.length - 1] : null;
            }})()""",
            timeout=30,
        )

    def fill(self, selector, text):
        self.page.evaluate(f"document.querySelector({json.dumps(selector)}).value = ''")
        if text:
            self.page.type_into(selector, text)

    def register(self, token=None, name=None):
        if token is not None:
            self.fill("#token", token)
        self.fill("#name", name or "")
        return self.act("#register", "register")

    def login(self, username=""):
        self.fill("#username", username)
        return self.act("#login", "login")

    def credentials(self):
        found = self.page.send("WebAuthn.getCredentials", {"authenticatorId": self.authenticator})
        return [
            {key: c[key] for key in ("isResidentCredential", "rpId", "signCount")}
            for c in found["credentials"]
        ]

    def screenshot(self, label):
        return self.page.screenshot(ARTIFACTS / f"passkeys-{self.name}-{label}.png").name

    def close(self):
        self.page.close()


@pytest.fixture
def person(server):
    return new_person(server)


def new_person(server):
    """A new account with a password session: (username, access token)."""
    name = f"p{uuid.uuid4().hex[:10]}"
    body = {"email": f"{name}@example.com", "username": name, "password": PASSWORD}
    status, pair = api(server, "POST", "/api/v1/auth/register", body)
    assert status == 201, pair
    return name, pair["access_token"]


@pytest.fixture
def tab(request, browser, pages, server):
    url = f"{pages.origin}/passkeys.html?api={server.api}"
    page = PasskeyPage(browser, url, request.node.name.removeprefix("test_"))
    yield page
    assert_clean(page)
    page.close()


def assert_clean(page):
    assert page.page.csp_violations() == []
    # The only errors a page may log are the refusals some tests provoke on purpose.
    unexpected = [e for e in page.page.console_errors() if "status of 401" not in e]
    assert unexpected == []


def test_register_then_log_in_with_username_and_discoverable(tab, person, server, report):
    username, token = person
    registered = tab.register(token, name="Virtual laptop")
    assert registered["ok"], registered
    assert registered["passkey"]["name"] == "Virtual laptop"
    stored = tab.credentials()
    assert stored == [{"isResidentCredential": True, "rpId": "localhost", "signCount": 1}]
    shots = [tab.screenshot("registered")]

    by_name = tab.login(username)
    assert by_name["ok"], by_name
    assert by_name["amr"] == ["hwk", "mfa"]
    assert by_name["me"]["username"] == username
    shots.append(tab.screenshot("logged-in"))
    # Options name no credential (allowCredentials is empty), so the authenticator
    # offers this passkey for any name; a challenge named for another account, or
    # for no one's name, refuses it alike.
    other, _token = new_person(server)
    refused = {name: tab.login(name) for name in (other, f"nobody-{uuid.uuid4().hex[:8]}")}
    for reply in refused.values():
        assert not reply["ok"] and reply["status"] == 401, reply
        assert reply["error"] == "ApiError: Passkey login failed"

    discoverable = tab.login("")
    assert discoverable["ok"] and discoverable["discoverable"], discoverable
    assert discoverable["me"]["username"] == username
    status, listed = api(server, "GET", "/api/v1/auth/passkeys", token=token)
    assert status == 200 and listed[0]["last_used_at"] is not None
    calls = tab.page.sent_requests("/api/v1/auth/passkeys/login")
    report["register_and_login"] = {
        "registration": registered["passkey"],
        "authenticator_after": tab.credentials(),
        "login_with_username": {"amr": by_name["amr"], "me": by_name["me"]["username"]},
        "login_with_other_names": [reply["status"] for reply in refused.values()],
        "login_discoverable": {"amr": discoverable["amr"], "me": discoverable["me"]["username"]},
        "login_statuses": [call.get("status") for call in calls],
        "console_errors": tab.page.console_errors(),
        "screenshots": shots,
    }


def test_the_same_authenticator_cannot_register_twice(tab, person, server, report):
    _username, token = person
    assert tab.register(token)["ok"]
    again = tab.register()
    # excludeCredentials: the authenticator already holds one, so the browser refuses.
    assert not again["ok"]
    assert again["error"].startswith("InvalidStateError"), again
    status, listed = api(server, "GET", "/api/v1/auth/passkeys", token=token)
    assert status == 200 and len(listed) == 1
    assert len(tab.credentials()) == 1
    report["register_twice"] = {
        "second_attempt": again,
        "server_passkeys": len(listed),
        "screenshot": tab.screenshot("refused"),
    }


def test_failed_user_verification_is_refused(tab, person, report):
    username, token = person
    assert tab.register(token)["ok"]
    bits = {"authenticatorId": tab.authenticator, "isBadUV": True}
    tab.page.send("WebAuthn.setResponseOverrideBits", bits)
    refused = tab.login(username)
    shot = tab.screenshot("refused")
    tab.page.send("WebAuthn.setResponseOverrideBits", {**bits, "isBadUV": False})
    control = tab.login(username)
    assert not refused["ok"] and refused["status"] == 401, refused
    assert refused["error"] == "ApiError: Passkey login failed"
    assert control["ok"], control
    report["user_verification_failed"] = {
        "with_bad_uv": refused,
        "control": {"ok": control["ok"], "amr": control["amr"]},
        "screenshot": shot,
    }


def test_a_deleted_passkey_no_longer_logs_in(tab, person, server, report):
    username, token = person
    assert tab.register(token)["ok"]
    before = tab.login(username)
    assert before["ok"]
    tab.page.click("#passkeys button")
    deleted = tab.page.wait_for(
        "window.passkeyResults.filter(r => r.step === 'delete').pop() || null", timeout=30
    )
    assert deleted["ok"], deleted
    # The authenticator still holds the credential and offers it; the server refuses it.
    after = tab.login("")
    assert len(tab.credentials()) == 1
    assert not after["ok"] and after["status"] == 401, after
    # Deleting it ended no session: the token of the passkey login still works.
    status, _me = api(
        server,
        "GET",
        "/api/v1/users/me",
        token=tab.page.evaluate("document.getElementById('token').value"),
    )
    assert status == 200
    report["deleted_passkey"] = {
        "login_after_delete": after,
        "session_still_live": status == 200,
        "screenshot": tab.screenshot("after-delete"),
    }


def test_the_development_server_serves_a_working_page(browser, tmp_path, report):
    """`make run`'s way: the page from authsvc itself, same origin, under its own CSP."""
    url = f"sqlite:///{tmp_path / 'dev.db'}"
    migrate(url)
    live = LiveServer(url, workers=1, log_path=tmp_path / "gunicorn.log")
    origin = f"http://localhost:{live.port}"
    live.env.update({"APP_ENV": "development", "WEBAUTHN_ORIGINS": origin})
    with live:
        username, token = new_person(live)
        page = PasskeyPage(browser, f"{origin}/examples/passkeys.html", "development")
        try:
            registered = page.register(token)
            logged_in = page.login("")
            assert registered["ok"], registered
            assert logged_in["ok"] and logged_in["me"]["username"] == username, logged_in
            policy = [
                event["response"]["headers"].get("Content-Security-Policy")
                for event in page.page.events("Network.responseReceived")
                if event["response"]["url"].endswith("/examples/passkeys.html")
            ]
            assert policy and "script-src 'self'" in policy[0]
            assert_clean(page)
            report["development_page"] = {
                "url": f"{origin}/examples/passkeys.html",
                "content_security_policy": policy[0],
                "login": {"amr": logged_in["amr"], "me": logged_in["me"]["username"]},
                "screenshot": page.screenshot("logged-in"),
            }
        finally:
            page.close()
    assert "Traceback" not in (tmp_path / "gunicorn.log").read_text(errors="replace")
