"""The docs and CORS in a real browser: headless Chromium against a live gunicorn.

What the browser saw (endpoints rendered, requests made, CORS outcomes) is
written to test-artifacts/browser/report.json beside the screenshots.
"""

import json
import os
import urllib.request
from urllib.parse import unquote, urlsplit

import pytest

from testing.browser import Browser, ClientOrigin, chromium_binary
from testing.live_server import ROOT, LiveServer, migrate

# CI installs Debian's chromium (.ci/run) and must run these; a developer's
# machine without it skips them, saying how to get them.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        chromium_binary() is None and not os.environ.get("CI"),
        reason="chromium is not installed (apt-get install chromium); CI runs these",
    ),
]

ARTIFACTS = ROOT / "test-artifacts" / "browser"
USERNAME, EMAIL, PASSWORD = "ada", "ada@example.com", "correct-horse-battery-staple"
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}

# A client app on another origin: log in, then GET /users/me with the Bearer token.
CLIENT_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>authsvc CORS client</title></head>
<body><h1>authsvc client</h1><pre id="out">running…</pre>
<script>
async function run() {
  const {api, username, password} = JSON.parse(decodeURIComponent(location.hash.slice(1)));
  const out = {origin: location.origin};
  try {
    const login = await fetch(api + "/api/v1/auth/login", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({username, password}),
    });
    out.login_status = login.status;
    const pair = await login.json();
    const me = await fetch(api + "/api/v1/users/me", {
      headers: {"Authorization": "Bearer " + pair.access_token},
    });
    out.me_status = me.status;
    out.me_request_id = me.headers.get("X-Request-ID");
    out.me_username = (await me.json()).username;
  } catch (error) {
    out.error = String(error);
  }
  document.getElementById("out").textContent = JSON.stringify(out, null, 2);
  window.result = out;
}
run();
</script></body></html>
"""


@pytest.fixture(scope="module")
def report():
    """What the browser saw, kept for the people reading the CI log and artifacts."""
    seen = {}
    yield seen
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "report.json").write_text(json.dumps(seen, indent=2) + "\n")


@pytest.fixture(scope="module")
def origins():
    with ClientOrigin(page=CLIENT_PAGE) as allowed, ClientOrigin(page=CLIENT_PAGE) as other:
        yield {"allowed": allowed, "other": other}


@pytest.fixture(scope="module")
def server(tmp_path_factory, origins):
    tmp = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{tmp / 'browser.db'}"
    migrate(url)
    env = {"BACKEND_CORS_ORIGINS": origins["allowed"].origin}
    with LiveServer(url, workers=2, env=env, log_path=tmp / "gunicorn.log") as live:
        register = urllib.request.Request(
            f"{live.url}/api/v1/auth/register",
            data=json.dumps({"email": EMAIL, "username": USERNAME, "password": PASSWORD}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(register, timeout=10) as response:
            assert response.status == 201
        yield live


@pytest.fixture(scope="module")
def spec_operations(server):
    with urllib.request.urlopen(f"{server.url}/openapi.json", timeout=10) as response:
        spec = json.load(response)
    return sorted(
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method in operations
        if method in HTTP_METHODS
    )


@pytest.fixture(scope="module")
def browser(tmp_path_factory, server):
    # Depends on `server` so that it closes first: gunicorn's graceful stop
    # would otherwise wait for the browser's open keep-alive connections.
    profile = tmp_path_factory.mktemp("chromium-profile")
    log = tmp_path_factory.mktemp("chromium-log") / "chromium.log"
    with Browser(profile, log_path=log) as chromium:
        yield chromium


@pytest.fixture
def page(browser):
    tab = browser.new_page()
    yield tab
    tab.close()


def assert_only_local_requests(page, server):
    """Every request went to the live server; data: and blob: URLs never leave the page."""
    requests = page.requests()
    assert requests
    for _method, url in requests:
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob"):
            continue
        assert (parts.scheme, parts.hostname, parts.port) == ("http", "127.0.0.1", server.port), (
            f"request left 127.0.0.1:{server.port}: {url}"
        )
    return sorted({url.split("?")[0] for _m, url in requests if not url.startswith("data:")})


def assert_clean_console(page):
    assert page.csp_violations() == []
    assert page.console_errors() == []
    assert [issue["code"] for issue in page.issues() if "Csp" in issue["code"]] == []


def assert_docs_page_complete(page, server, report, name, rendered, spec_operations):
    """A docs page showed every operation of the spec, loaded nothing from elsewhere,
    and logged no error; what it showed and fetched goes to `report[name]`."""
    assert sorted(map(tuple, rendered)) == spec_operations
    requests = assert_only_local_requests(page, server)
    assert_clean_console(page)
    report[name] = {
        "operations_rendered": [" ".join(op) for op in rendered],
        "requests": requests,
    }


def test_swagger_ui_renders_every_operation_and_loads_nothing_from_elsewhere(
    page, server, spec_operations, report
):
    page.navigate(f"{server.url}/docs")
    page.wait_for(
        f"document.querySelectorAll('.opblock').length === {len(spec_operations)}",
        message="Swagger UI did not render every operation",
    )
    rendered = page.evaluate(
        """[...document.querySelectorAll('.opblock-summary')].map(summary => [
             summary.querySelector('.opblock-summary-method').textContent,
             summary.querySelector('.opblock-summary-path').getAttribute('data-path')])"""
    )
    page.screenshot(ARTIFACTS / "swagger-ui.png")

    assert_docs_page_complete(page, server, report, "swagger_ui", rendered, spec_operations)


def test_swagger_ui_authorizes_with_the_password_flow_and_calls_users_me(page, server, report):
    me = "#operations-users-get_api_v1_users_me"
    page.navigate(f"{server.url}/docs")
    page.wait_for(f"!!document.querySelector('{me}')")

    page.click("button.btn.authorize")
    page.type_into("#oauth_username", USERNAME)
    page.type_into("#oauth_password", PASSWORD)
    page.click('button[aria-label="Apply given OAuth2 credentials"]')
    page.wait_for(
        "!!document.querySelector('.modal-ux button[aria-label=\"Remove authorization\"]')",
        message="Swagger UI did not report the OAuth2 login as authorized",
    )
    page.screenshot(ARTIFACTS / "swagger-ui-authorized.png")
    page.click(".modal-ux .btn-done")

    page.click(f"{me} .opblock-summary-control")
    page.click(f"{me} .try-out__btn")
    page.click(f"{me} .execute")
    status_cell = f"{me} .live-responses-table tr.response .response-col_status"
    status = page.wait_for(
        f"(document.querySelector('{status_cell}') || {{}}).textContent",
        message="Swagger UI showed no response to GET /api/v1/users/me",
    )
    body = page.evaluate(
        f"document.querySelector('{me} .live-responses-table .highlight-code pre').textContent"
    )
    page.screenshot(ARTIFACTS / "swagger-ui-users-me.png")

    assert status.strip() == "200"
    assert json.loads(body)["username"] == USERNAME
    [token_request] = page.sent_requests("/api/v1/auth/login")
    assert token_request["method"] == "POST" and token_request["status"] == 200
    assert "grant_type=password" in token_request["post_data"]
    [me_request] = page.sent_requests("/api/v1/users/me")
    assert me_request["headers"]["Authorization"].startswith("Bearer ey")
    assert me_request["status"] == 200
    assert_only_local_requests(page, server)
    assert_clean_console(page)
    report["swagger_ui_try_it_out"] = {
        "token_request": f"POST /api/v1/auth/login (form, grant_type=password) -> "
        f"{token_request['status']}",
        "call": f"GET /api/v1/users/me with Authorization: Bearer -> {me_request['status']}",
    }


def test_redoc_renders_every_operation_and_loads_nothing_from_elsewhere(
    page, server, spec_operations, report
):
    page.navigate(f"{server.url}/redoc")
    selector = "[data-section-id*='/paths/']"
    page.wait_for(
        f'document.querySelectorAll("{selector}").length === {len(spec_operations)}',
        message="ReDoc did not render every operation",
    )
    section_ids = page.evaluate(
        f'[...document.querySelectorAll("{selector}")].map(e => e.dataset.sectionId)'
    )
    page.screenshot(ARTIFACTS / "redoc.png")

    # `tag/auth/paths/~1api~1v1~1auth~1login/post` (JSON pointer escaping).
    rendered = sorted(
        (method.upper(), unquote(path).replace("~1", "/").replace("~0", "~"))
        for path, method in (sid.split("/paths/", 1)[1].rsplit("/", 1) for sid in section_ids)
    )
    assert_docs_page_complete(page, server, report, "redoc", rendered, spec_operations)


def run_client_page(page, origin, server):
    hash_ = json.dumps({"api": server.url, "username": USERNAME, "password": PASSWORD})
    page.navigate(f"{origin.origin}/#{hash_}")
    return page.wait_for("window.result", message="the client page never finished")


def test_cors_page_on_an_allowed_origin_logs_in_and_calls_users_me(page, server, origins, report):
    result = run_client_page(page, origins["allowed"], server)
    page.screenshot(ARTIFACTS / "cors-allowed-origin.png")

    assert "error" not in result, result
    assert result["login_status"] == 200
    assert result["me_status"] == 200
    assert result["me_username"] == USERNAME
    assert result["me_request_id"]  # an exposed header the page may read
    preflights = [r for r in page.sent_requests("/api/v1/users/me") if r["method"] == "OPTIONS"]
    report["cors_allowed_origin"] = {
        "origin": result["origin"],
        "login": result["login_status"],
        "users_me": result["me_status"],
        "preflights_seen_by_devtools": len(preflights),
    }


def test_cors_page_on_another_origin_is_blocked_by_the_browser(page, server, origins, report):
    result = run_client_page(page, origins["other"], server)
    page.screenshot(ARTIFACTS / "cors-other-origin.png")

    assert result["error"] == "TypeError: Failed to fetch"
    assert "login_status" not in result and "me_status" not in result
    blocked = [
        request["failed"]
        for request in page.sent_requests("/api/v1/auth/login")
        if request.get("failed")
    ]
    assert blocked and all(failure["corsErrorStatus"] for failure in blocked), blocked
    assert page.sent_requests("/api/v1/users/me") == []  # never got that far
    report["cors_other_origin"] = {
        "origin": result["origin"],
        "outcome": result["error"],
        "devtools": [failure["corsErrorStatus"]["corsError"] for failure in blocked],
    }
