"""The cluster scenario shared by `make cluster` and the test suite: mixed load from
the client namespace through nginx, with faults on a timeline, then the checks."""

import json
import os
import sys
import time
from dataclasses import dataclass, field

import redis
from sqlalchemy import bindparam, create_engine, text
from sqlalchemy.pool import NullPool

from testing.databases import postgres_database
from testing.live_server import ROOT, migrate
from testing.load.checks import integrity_problems

from .cluster import HOSTS, MAIL_LEASE_SECONDS, PROXY, RESOURCE, Cluster
from .judge import judge
from .keyprobe import measure_rotation
from .mailcheck import check_mail
from .topology import NamespacesUnavailable  # noqa: F401 - re-exported for the test

LOGIN_LIMIT = 5
UNHANDLED = '"message": "unhandled error"'  # what authsvc logs with every 500
# Seconds each outage lasts, and after each fault during which its refusals still count
# as its own (its grace); at most a tenth of the run.
FAULT_HOLD = 5.0
ROTATION_LIMIT = 60.0  # seconds within which every host must sign with the new key
DRAIN_LIMIT = MAIL_LEASE_SECONDS + 60.0  # seconds after the load for the outbox to drain


@dataclass
class Fault:
    kind: str
    label: str
    start: float
    end: float = 0.0
    grace: float = FAULT_HOLD  # seconds after `end` that still count as the fault's
    notes: dict = field(default_factory=dict)  # shown on its line of the table
    details: dict = field(default_factory=dict)  # the key rotation's measurement


@dataclass
class Outcome:
    duration: float
    keys_refresh: float = 30.0
    result: dict = field(default_factory=dict)
    faults: list = field(default_factory=list)
    failures: list = field(default_factory=list)
    figures: dict = field(default_factory=dict)
    table: str = ""


# When each fault starts, as a fraction of the requested duration; never sooner than
# the grace after the previous one ended, so each fault's cost is its own. The load
# goes on until the grace after the last one, however long the faults took.
SCHEDULE = ((0.10, "kill"), (0.30, "database"), (0.50, "redis"), (0.70, "rotate"))


LABELS = {
    "kill": "kill -9 host h2 (master and workers)",
    "database": "PostgreSQL unreachable (connections reset, new ones refused)",
    "redis": "Redis unreachable (connections reset, new ones refused)",
    "rotate": "flask keys rotate on host h1",
}


def inject(cluster, kind, hold, workdir):
    """Run one fault (for `hold` seconds, when it is an outage) and return what happened."""
    fault = Fault(kind, LABELS[kind], time.time(), grace=hold)
    if kind == "kill":
        cluster.kill_host("h2")
        time.sleep(hold)
        restarted = time.time()
        seconds = cluster.start_host("h2")
        fault.notes = {"down": f"{restarted - fault.start:.1f} s", "restart": f"{seconds:.1f} s"}
    elif kind == "rotate":
        fault.details = measure_rotation(cluster, workdir, ROTATION_LIMIT)
        fault.start = fault.details["started"]
    else:
        forwarder = cluster.database if kind == "database" else cluster.redis
        forwarder.down()
        time.sleep(hold)
        forwarder.up()
    fault.end = time.time()
    return fault


def run_cluster(workdir, *, duration=60.0, clients=12, workers=2, keys_refresh=30.0, sample=200):
    """Build the cluster, run the load with its faults, check; return an Outcome."""
    database_base = os.environ.get("TEST_DATABASE_URL")
    redis_url = os.environ.get("TEST_REDIS_URL")
    if not (database_base and redis_url):
        raise NamespacesUnavailable("the cluster needs TEST_DATABASE_URL and TEST_REDIS_URL")
    outcome = Outcome(duration, keys_refresh)
    hold = min(FAULT_HOLD, duration / 10)
    with postgres_database(database_base, "cluster") as database_url:
        migrate(database_url)
        limits = redis.Redis.from_url(redis_url)
        limits.flushdb()
        try:
            with Cluster(
                workdir, database_url, redis_url, workers=workers, keys_refresh=keys_refresh
            ) as cluster:
                outcome.result = drive(cluster, workdir, outcome, duration, clients, hold, sample)
                for fault in outcome.faults:
                    outcome.failures += fault.details.get("failures", [])
                outcome.figures["host logs"] = host_log_check(cluster, workdir, outcome.failures)
                outcome.figures["mail"], failures = check_mail(
                    cluster, database_url, acknowledged_mail(outcome), outcome.faults, DRAIN_LIMIT
                )
                outcome.failures += failures
                outcome.failures += crashes(workdir)
        finally:
            limits.flushdb()
            limits.close()
        outcome.failures += database_checks(database_url, outcome.result)
    outcome.table = judge(outcome, cluster, workdir)
    return outcome


def drive(cluster, workdir, outcome, duration, clients, hold, sample):
    stop_file = workdir / "stop"
    settings = {
        "proxy": cluster.proxy_url,
        "hosts": cluster.host_urls,
        "resource": cluster.resource_url,
        "introspection_client": cluster.introspection_client,
        "client_network": str(cluster.topology.client_network),
        "stop_file": str(stop_file),
        "max_seconds": duration * 3 + 180,  # a hard limit, should the test process vanish
        "clients": clients,
        "sample": sample,
        "login_limit": LOGIN_LIMIT,
    }
    settings_path, result_path = workdir / "settings.json", workdir / "result.json"
    settings_path.write_text(json.dumps(settings))
    started = time.time()
    load = cluster.topology.spawn(
        "client",
        [sys.executable, "-m", "testing.cluster.workload", str(settings_path), str(result_path)],
        workdir / "workload.log",
        cwd=ROOT,
    )
    try:
        for fraction, kind in SCHEDULE:
            at = started + fraction * duration
            if outcome.faults:
                at = max(at, outcome.faults[-1].end + hold)
            time.sleep(max(0.0, at - time.time()))
            if load.poll() is not None:
                break  # the workload died: its log says why, below
            outcome.faults.append(inject(cluster, kind, hold, workdir))
        ends = max(started + duration, outcome.faults[-1].end + hold if outcome.faults else 0)
        time.sleep(max(0.0, ends - time.time()))
    finally:
        stop_file.touch()
    try:
        load.wait(timeout=300)  # the checks after the load, from the client namespace
    finally:
        if load.poll() is None:
            load.kill()
    if load.returncode != 0 or not result_path.exists():
        log = (workdir / "workload.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"the workload exited with {load.returncode}: {log}")
    result = json.loads(result_path.read_text())
    result["t0"] = started
    outcome.failures += result["failures"]
    return result


def acknowledged_mail(outcome):
    """The mails the service acknowledged: a verification per registration, a reset per
    forgotten password."""
    registered = list(outcome.result.get("registered", []))
    for fault in outcome.faults:
        registered += fault.details.get("registered", [])  # the key probe's users
    return {
        "verify_email": [f"{name}@example.com" for name in registered],
        "reset_password": list(outcome.result.get("forgot", [])),
    }


def host_log_check(cluster, workdir, failures):
    """The hosts log the client's address for proxied requests, never the proxy's."""
    proxy = cluster.topology.addresses[PROXY]
    resource = cluster.topology.addresses[RESOURCE]
    client_net = cluster.topology.client_network
    seen = {"client": 0, "resource server": 0, "proxy": 0, "other": 0}
    for name in HOSTS:
        for line in (workdir / f"{name}-access.log").read_text(errors="replace").splitlines():
            try:
                address = json.loads(line).get("remote_addr") or ""
            except ValueError:
                continue
            if address == proxy:
                seen["proxy"] += 1
            elif address == resource:  # its introspection calls, through the proxy
                seen["resource server"] += 1
            elif address.startswith(str(client_net.network_address).rsplit(".", 2)[0] + "."):
                seen["client"] += 1
            else:
                seen["other"] += 1  # the test's own health checks, from the bridge
    if seen["proxy"] or not seen["client"] or not seen["resource server"]:
        failures.append(f"host access logs show the proxy as the client: {seen}")
    return seen


def crashes(workdir):
    """No host, and not the resource server, answered a 500."""
    failures = []
    for name in HOSTS:
        count = (workdir / f"{name}.log").read_text(errors="replace").count(UNHANDLED)
        if count:
            failures.append(f"{name} logged {count} unhandled errors (500s)")
    resource_log = (workdir / "resource-server.log").read_text(errors="replace")
    if "Traceback" in resource_log:
        failures.append("the resource server logged a traceback (a 500)")
    return failures


def database_checks(database_url, result):
    """Every acknowledged registration is a row; every acknowledged logout's session is ended."""
    failures = []
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            names = text("SELECT count(*) FROM users WHERE username IN :names").bindparams(
                bindparam("names", expanding=True)
            )
            registered = result.get("registered", [])
            found = sum(
                connection.execute(names, {"names": registered[i : i + 500]}).scalar_one()
                for i in range(0, len(registered), 500)
            )
            if found != len(registered):
                failures.append(f"{len(registered) - found} acknowledged registrations lost")
            live = text(
                "SELECT count(*) FROM login_sessions WHERE revoked_at IS NULL AND id IN :ids"
            ).bindparams(bindparam("ids", expanding=True))
            ended = result.get("ended", [])
            for i in range(0, len(ended), 500):
                if connection.execute(live, {"ids": ended[i : i + 500]}).scalar_one():
                    failures.append("a session ended by an acknowledged logout is live")
    finally:
        engine.dispose()
    return failures + integrity_problems(database_url)
