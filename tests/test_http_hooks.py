"""authsvc/http_hooks.py: the request hooks, registered in one place, in their stated order."""

import pytest
from flask import g

from authsvc import keyring, metrics, observability
from authsvc.api.ratelimits import keep_retry_after_where_meant, note_own_retry_after
from authsvc.http_hooks import NoCookieSession, normalize_bearer_scheme, set_security_headers


def run_order(app):
    """Hooks in the order Flask runs them (after_request: last registered first)."""
    before = app.before_request_funcs[None]
    after = list(reversed(app.after_request_funcs[None]))
    return before, after


@pytest.mark.parametrize("app_settings", [{"METRICS_ENABLED": True, "RATELIMIT_ENABLED": True}])
def test_hooks_run_in_the_stated_order(app, app_settings):
    before, after = run_order(app)
    assert before == [
        observability.assign_request_id,
        metrics.start_timer,
        normalize_bearer_scheme,
        keyring.prepare_keys,
    ]
    assert after[:2] == [set_security_headers, note_own_retry_after]
    assert after[-3:] == [
        keep_retry_after_where_meant,
        metrics.record,
        observability.add_request_id_header,
    ]
    # Between them, the extensions' own (Flask-Limiter's headers, flask-cors).
    assert len(after) == 7


def test_without_metrics_only_the_request_id_frames_the_hooks(app):
    before, after = run_order(app)
    assert before == [
        observability.assign_request_id,
        normalize_bearer_scheme,
        keyring.prepare_keys,
    ]
    assert after[0] is set_security_headers
    assert after[-1] is observability.add_request_id_header
    assert metrics.record not in after
    assert keep_retry_after_where_meant not in after  # no limiter, no Retry-After
    assert note_own_retry_after not in after


@pytest.mark.parametrize("app_settings", [{"RATELIMIT_ENABLED": True}])
def test_an_early_answer_still_carries_the_request_id_and_headers(client, app, app_settings):
    """A 429 from the limiter passes through every after hook."""
    app.config["REGISTER_RATE_LIMIT"] = "1 per minute"
    responses = [
        client.post("/api/v1/auth/register", json={}, headers={"X-Request-ID": f"r{i}"})
        for i in range(2)
    ]
    assert [r.status_code for r in responses] == [422, 429]
    assert responses[1].headers["X-Request-ID"] == "r1"
    assert responses[1].headers["X-Content-Type-Options"] == "nosniff"
    assert responses[1].mimetype == "application/problem+json"
    assert "Retry-After" in responses[1].headers
    assert "Retry-After" not in responses[0].headers  # a 422 means no "wait and retry"


def test_no_session_cookie_is_read_or_set(app, client):
    assert isinstance(app.session_interface, NoCookieSession)

    @app.get("/set-session-for-test")
    def set_session():
        g.touched = True
        return {}

    response = client.get("/set-session-for-test", headers={"Cookie": "session=forged"})
    assert "Set-Cookie" not in response.headers
