"""Prometheus metrics, correct across gunicorn workers.

Under gunicorn, `gunicorn.conf.py` sets `PROMETHEUS_MULTIPROC_DIR` before any
worker imports prometheus_client, so each worker writes its samples to files
there and a scrape sums them whichever worker answers it. Without that
variable (the Flask dev server, tests) the samples live in this process.

The active-sessions gauge is not counted up and down by the workers: it is
read from the database at scrape time, so it is right after restarts, expiry
and pruning too.
"""

import os
import re
import time
from functools import cache

from flask import current_app, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, select

from .extensions import db
from .mail import outbox
from .models import LoginSession, live_clause, utcnow

REGISTRY = CollectorRegistry()

REQUESTS = Counter(
    "authsvc_http_requests",
    "HTTP requests answered, by method, route and status.",
    ["method", "endpoint", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "authsvc_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route.",
    ["method", "endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
LOGINS = Counter(
    "authsvc_logins",
    "Login attempts by outcome.",
    ["outcome"],
    registry=REGISTRY,
)
PASSKEY_LOGINS = Counter(
    "authsvc_passkey_logins",
    "Passkey login attempts by outcome.",
    ["outcome"],
    registry=REGISTRY,
)
MFA_VERIFICATIONS = Counter(
    "authsvc_mfa_verifications",
    "Second steps of login (POST /auth/mfa/verify) by outcome.",
    ["outcome"],
    registry=REGISTRY,
)
MFA_OUTCOMES = ("success", "wrong_code", "replayed", "locked", "invalid_token", "rate_limited")
REFRESH_REUSE = Counter(
    "authsvc_refresh_token_reuse_detections",
    "Refresh tokens presented again after rotation (each revoked its session).",
    registry=REGISTRY,
)

# The login endpoints, each with its counter (the same outcomes for both).
LOGIN_COUNTERS = {"auth.login": LOGINS, "passkeys.login": PASSKEY_LOGINS}
LOGIN_OUTCOMES = {
    200: "success",
    400: "invalid_request",
    401: "invalid_credentials",
    403: "account_disabled",
    422: "invalid_request",
    429: "rate_limited",
}
MFA_REQUIRED = "urn:authsvc:problem:mfa-required"
UNMATCHED = "<unmatched>"
CONVERTER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


class OutboxCollector:
    """`authsvc_mail_outbox{status}` and the oldest pending mail's age, read at scrape time."""

    def collect(self):
        counts, oldest = outbox.counts()
        by_status = GaugeMetricFamily(
            "authsvc_mail_outbox", "Mails in the outbox, by status.", labels=["status"]
        )
        for status, count in counts.items():
            by_status.add_metric([status], count)
        yield by_status
        yield GaugeMetricFamily(
            "authsvc_mail_outbox_oldest_pending_seconds",
            "Age of the oldest mail still waiting to be delivered (0 when none waits).",
            value=oldest,
        )


class ActiveSessionsCollector:
    """`authsvc_active_sessions`: live sessions, counted in the database at scrape time."""

    def collect(self):
        count = db.session.execute(
            select(func.count(LoginSession.id)).where(live_clause(utcnow()))
        ).scalar_one()
        gauge = GaugeMetricFamily(
            "authsvc_active_sessions", "Sessions neither revoked nor expired."
        )
        gauge.add_metric([], count)
        yield gauge


def login_outcome(response):
    """A 403 is a disabled account, or a right password that needs a second factor."""
    status = response.status_code
    if status == 403 and (response.get_json(silent=True) or {}).get("type") == MFA_REQUIRED:
        return "mfa_required"
    return LOGIN_OUTCOMES.get(status, "error")


def count_mfa_verification(outcome):
    MFA_VERIFICATIONS.labels(outcome).inc()


def multiprocess_dir():
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def render():
    """The metrics of every worker (or of this process), in Prometheus text format."""
    registry = CollectorRegistry()
    if multiprocess_dir():
        MultiProcessCollector(registry)
    else:
        registry.register(REGISTRY)
    registry.register(ActiveSessionsCollector())
    registry.register(OutboxCollector())
    return generate_latest(registry)


@cache
def endpoint_label(rule):
    """A route as OpenAPI writes it: `/api/v1/users/{user_id}` (bounded, so a fine label)."""
    return CONVERTER.sub(r"{\1}", rule)


# The timer is this module's own request state (its two hooks), nothing else's.
def start_timer():
    g.metrics_started = time.perf_counter()


def record(response):
    endpoint = endpoint_label(request.url_rule.rule) if request.url_rule else UNMATCHED
    started = g.get("metrics_started")
    if started is not None:
        LATENCY.labels(request.method, endpoint).observe(time.perf_counter() - started)
    REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
    logins = LOGIN_COUNTERS.get(request.endpoint)
    if logins is not None and request.method == "POST":
        logins.labels(login_outcome(response)).inc()
    return response


def refresh_reuse_detected():
    """Count a refresh token presented again after rotation (the view reports it)."""
    if current_app.config["METRICS_ENABLED"]:
        REFRESH_REUSE.inc()
