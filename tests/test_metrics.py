"""Prometheus metrics: off by default, counted per route and status, and summed
across gunicorn workers (prometheus_client multiprocess mode)."""

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client.parser import text_string_to_metric_families

from authsvc.extensions import db
from testing.live_server import LiveServer, migrate
from tests.helpers import LOGIN, LOGOUT, PASSWORD, REFRESH, make_app


def samples(text):
    """{(sample name, sorted label items): value} from Prometheus text format."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(scraped, name, **labels):
    return scraped.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_are_off_unless_enabled(database_url):
    app = make_app(database_url)
    assert not app.config["METRICS_ENABLED"]
    client = app.test_client()
    assert client.get("/metrics").status_code == 404
    assert "/metrics" not in client.get("/openapi.json").get_json()["paths"]
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def app_settings():
    return {"METRICS_ENABLED": True, "RATELIMIT_ENABLED": True, "LOGIN_RATE_LIMIT": "3 per minute"}


@pytest.fixture
def scrape(client):
    def scrape():
        response = client.get("/metrics")
        assert response.status_code == 200
        assert response.mimetype == "text/plain"
        return samples(response.get_data(as_text=True))

    return scrape


def test_requests_are_counted_by_route_and_status_with_latency(client, scrape):
    before = scrape()
    client.get("/health")
    client.get("/health")
    client.get("/api/v1/users/me")
    client.get("/no/such/page")
    client.get("/api/v1/users/42")
    after = scrape()

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "authsvc_http_requests_total"
    assert delta(requests, method="GET", endpoint="/health", status="200") == 2
    assert delta(requests, method="GET", endpoint="/api/v1/users/me", status="401") == 1
    assert delta(requests, method="GET", endpoint="<unmatched>", status="404") == 1
    assert delta(requests, method="GET", endpoint="/api/v1/users/{user_id}", status="401") == 1
    latency = "authsvc_http_request_duration_seconds_count"
    assert delta(latency, method="GET", endpoint="/health") == 2
    assert (
        delta(
            "authsvc_http_request_duration_seconds_bucket",
            method="GET",
            endpoint="/health",
            le="+Inf",
        )
        == 2
    )


def test_logins_by_outcome_reuse_detections_and_active_sessions(client, scrape, user, make_user):
    from authsvc.extensions import limiter

    before = scrape()
    assert value(before, "authsvc_active_sessions") == 0
    good = client.post(LOGIN, json={"username": "ada", "password": PASSWORD}).get_json()
    client.post(LOGIN, json={"username": "ada", "password": "wrong-password"})
    client.post(LOGIN, json={"username": "ada"})
    client.post(LOGIN, json={"username": "ada", "password": PASSWORD})  # over 3 per minute
    client.post(REFRESH, json={"refresh_token": good["refresh_token"]})
    client.post(REFRESH, json={"refresh_token": good["refresh_token"]})  # reuse
    limiter.reset()
    disabled = make_user("grace", is_active=False)
    client.post(LOGIN, json={"username": "grace", "password": disabled["password"]})
    after = scrape()

    def logins(outcome):
        return value(after, "authsvc_logins_total", outcome=outcome) - value(
            before, "authsvc_logins_total", outcome=outcome
        )

    assert logins("success") == 1
    assert logins("invalid_credentials") == 1
    assert logins("invalid_request") == 1
    assert logins("rate_limited") == 1
    assert logins("account_disabled") == 1
    reuse = "authsvc_refresh_token_reuse_detections_total"
    assert value(after, reuse) - value(before, reuse) == 1
    assert value(after, "authsvc_active_sessions") == 0  # the reuse revoked the one session


def test_active_sessions_follow_the_database(client, scrape, auth, user):
    pairs = [auth.login("ada") for _ in range(3)]
    assert value(scrape(), "authsvc_active_sessions") == 3
    client.post(LOGOUT, json={"refresh_token": pairs[0]["refresh_token"]})
    assert value(scrape(), "authsvc_active_sessions") == 2


def test_metrics_are_not_rate_limited(client):
    for _ in range(20):
        assert client.get("/metrics").status_code == 200


def test_metrics_are_documented_when_enabled(client):
    operation = client.get("/openapi.json").get_json()["paths"]["/metrics"]["get"]
    assert "text/plain" in operation["responses"]["200"]["content"]


# --- across gunicorn workers --------------------------------------------------


def fetch(url, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


@pytest.mark.slow
def test_counts_add_up_across_two_gunicorn_workers(tmp_path):
    url = f"sqlite:///{tmp_path / 'metrics.db'}"
    migrate(url)
    metrics_dir = tmp_path / "prometheus"
    env = {"METRICS_ENABLED": "true", "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    with LiveServer(url, workers=2, env=env, log_path=tmp_path / "gunicorn.log") as server:

        def scrape():
            status, body = fetch(f"{server.url}/metrics")
            assert status == 200
            return samples(body.decode())

        health = {"name": "authsvc_http_requests_total", "method": "GET", "endpoint": "/health"}
        before = value(scrape(), **{"status": "200", **health})
        # Which worker accepts a connection is the kernel's choice: load until
        # both have answered (a fast request can leave one idle for a while).
        sent = 0
        with ThreadPoolExecutor(max_workers=8) as pool:
            while not sent or (sent < 1200 and len(list(metrics_dir.glob("counter_*.db"))) < 2):
                statuses = list(pool.map(lambda _: fetch(f"{server.url}/health")[0], range(60)))
                assert statuses == [200] * 60
                sent += 60

        register = {"email": "ada@example.com", "username": "ada", "password": PASSWORD}
        status, body = fetch(f"{server.url}/api/v1/auth/register", register)
        assert status == 201
        pair = json.loads(body)
        login = {"username": "ada", "password": PASSWORD}
        assert fetch(f"{server.url}{LOGIN}", login)[0] == 200
        for _ in range(3):
            assert fetch(f"{server.url}{LOGIN}", {**login, "password": "nope-nope"})[0] == 401
        refresh = {"refresh_token": pair["refresh_token"]}
        assert fetch(f"{server.url}{REFRESH}", refresh)[0] == 200
        assert fetch(f"{server.url}{REFRESH}", refresh)[0] == 401  # reuse

        # Whichever worker answers a scrape, it reports every worker's samples.
        scrapes = [scrape() for _ in range(6)]
        workers_with_samples = {path.name for path in metrics_dir.glob("counter_*.db")}

    assert len(workers_with_samples) >= 2, workers_with_samples
    for after in scrapes:
        assert value(after, **{"status": "200", **health}) - before == sent
        assert value(after, "authsvc_logins_total", outcome="success") == 1
        assert value(after, "authsvc_logins_total", outcome="invalid_credentials") == 3
        assert value(after, "authsvc_refresh_token_reuse_detections_total") == 1
        assert value(after, "authsvc_active_sessions") == 1  # login's; register's was revoked
        count = value(
            after, "authsvc_http_request_duration_seconds_count", method="GET", endpoint="/health"
        )
        assert count >= 60
