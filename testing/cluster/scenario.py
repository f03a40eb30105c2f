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

from .cluster import HOSTS, PROXY, Cluster
from .judge import GRACE, judge
from .topology import NamespacesUnavailable  # noqa: F401 - re-exported for the test

LOGIN_LIMIT = 5
UNHANDLED = '"message": "unhandled error"'  # what authsvc logs with every 500
FAULT_HOLD = 5.0  # seconds each outage lasts (at most a tenth of the run)


@dataclass
class Fault:
    kind: str
    label: str
    start: float
    end: float = 0.0
    notes: dict = field(default_factory=dict)


@dataclass
class Outcome:
    duration: float
    result: dict = field(default_factory=dict)
    faults: list = field(default_factory=list)
    failures: list = field(default_factory=list)
    figures: dict = field(default_factory=dict)
    table: str = ""


# When each fault starts, as a fraction of the run; never sooner than GRACE after
# the previous one ended, so each fault's cost is its own.
SCHEDULE = ((0.15, "kill"), (0.40, "database"), (0.65, "redis"))


LABELS = {
    "kill": "kill -9 host h2 (master and workers)",
    "database": "PostgreSQL unreachable (connections reset, new ones refused)",
    "redis": "Redis unreachable (connections reset, new ones refused)",
}


def inject(cluster, kind, hold):
    """Run one fault for `hold` seconds and return what happened."""
    fault = Fault(kind, LABELS[kind], time.time())
    if kind == "kill":
        cluster.kill_host("h2")
        time.sleep(hold)
        restarted = time.time()
        seconds = cluster.start_host("h2")
        fault.notes = {"down": f"{restarted - fault.start:.1f} s", "restart": f"{seconds:.1f} s"}
    else:
        forwarder = cluster.database if kind == "database" else cluster.redis
        forwarder.down()
        time.sleep(hold)
        forwarder.up()
    fault.end = time.time()
    return fault


def run_cluster(workdir, *, duration=60.0, clients=12, workers=2, sample=200):
    """Build the cluster, run the load with its faults, check; return an Outcome."""
    database_base = os.environ.get("TEST_DATABASE_URL")
    redis_url = os.environ.get("TEST_REDIS_URL")
    if not (database_base and redis_url):
        raise NamespacesUnavailable("the cluster needs TEST_DATABASE_URL and TEST_REDIS_URL")
    outcome = Outcome(duration)
    hold = min(FAULT_HOLD, duration / 10)
    with postgres_database(database_base, "cluster") as database_url:
        migrate(database_url)
        limits = redis.Redis.from_url(redis_url)
        limits.flushdb()
        try:
            with Cluster(workdir, database_url, redis_url, workers=workers) as cluster:
                outcome.result = drive(cluster, workdir, outcome, duration, clients, hold, sample)
                outcome.figures["host logs"] = host_log_check(cluster, workdir, outcome.failures)
        finally:
            limits.flushdb()
            limits.close()
        outcome.failures += database_checks(database_url, outcome.result)
    outcome.table = judge(outcome, cluster, workdir)
    return outcome


def drive(cluster, workdir, outcome, duration, clients, hold, sample):
    settings = {
        "proxy": cluster.proxy_url,
        "hosts": cluster.host_urls,
        "client_network": str(cluster.topology.client_network),
        "duration": duration,
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
    for fraction, kind in SCHEDULE:
        at = started + fraction * duration
        if outcome.faults:
            at = max(at, outcome.faults[-1].end + GRACE)
        time.sleep(max(0.0, at - time.time()))
        outcome.faults.append(inject(cluster, kind, hold))
    try:
        load.wait(timeout=duration + 300)
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


def host_log_check(cluster, workdir, failures):
    """The hosts log the client's address for proxied requests, never the proxy's."""
    proxy = cluster.topology.addresses[PROXY]
    client_net = cluster.topology.client_network
    seen = {"client": 0, "proxy": 0, "other": 0}
    for name in HOSTS:
        for line in (workdir / f"{name}-access.log").read_text(errors="replace").splitlines():
            try:
                address = json.loads(line).get("remote_addr") or ""
            except ValueError:
                continue
            if address == proxy:
                seen["proxy"] += 1
            elif address.startswith(str(client_net.network_address).rsplit(".", 2)[0] + "."):
                seen["client"] += 1
            else:
                seen["other"] += 1  # the test's own health checks, from the bridge
    if seen["proxy"] or not seen["client"]:
        failures.append(f"host access logs show the proxy as the client: {seen}")
    for name in HOSTS:
        crashes = (workdir / f"{name}.log").read_text(errors="replace").count(UNHANDLED)
        if crashes:
            failures.append(f"{name} logged {crashes} unhandled errors (500s)")
    return seen


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
