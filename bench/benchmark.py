"""`make bench`: authsvc under gunicorn and wrk, against a bare-Flask baseline.

One run, per backend (SQLite always, PostgreSQL when BENCH_DATABASE_URL is
set): the baseline; authsvc's /users/me, and /users/me again once the token
tables hold `--large-token-rows` rows; refresh (with rotation) and login;
the baseline again (ratios use the faster of the two baseline runs). It
prints one table and the target figures, writes them as JSON, and exits 1
if any request errored. `--runs 3` repeats the whole and judges the targets
on the medians.
"""

import argparse
import json
import multiprocessing
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from authsvc import create_app, passwords
from authsvc.extensions import db
from testing.databases import postgres_database
from testing.live_server import LiveServer, migrate

from . import report, seed, verify_costs
from .loadgen import LoadGeneratorError, find_wrk, run_wrk

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
UNLIMITED = "1000000 per minute"  # the limiter still runs on every request; it never trips

LABELS = {
    "baseline": "GET /ping (bare Flask baseline)",
    "baseline_end": "GET /ping (bare Flask baseline), again",
    "me": "GET /api/v1/users/me",
    "refresh": "POST /api/v1/auth/refresh",
    "login": "POST /api/v1/auth/login",
    "me_large": "GET /api/v1/users/me, large token tables",
    "introspect": "POST /oauth/introspect",
    "jwks": "GET /.well-known/jwks.json",
}
ISSUER = "http://127.0.0.1:8000"
# Production refuses to guess its passkey relying party; the benchmark runs no ceremony.
RELYING_PARTY = {"WEBAUTHN_RP_ID": "localhost", "WEBAUTHN_ORIGINS": "http://localhost:8000"}


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    add = parser.add_argument
    add(
        "--workers",
        type=int,
        default=min(4, multiprocessing.cpu_count() * 2),
        help="gunicorn workers (default: gunicorn.conf.py's own default)",
    )
    add("--worker-class", default="sync", help="gunicorn worker class (sync, gthread)")
    add("--threads", type=int, default=1, help="threads per worker (gthread)")
    add("--connections", type=int, default=32, help="concurrent wrk connections")
    add("--wrk-threads", type=int, default=2, help="wrk threads")
    add("--duration", type=int, default=10, help="seconds per measurement")
    add(
        "--slices",
        type=int,
        default=None,
        help="each measurement is this many wrk runs of duration/slices seconds (default 3, "
        "1 with --smoke); its figures "
        "are the fastest run's (errors count from all), so a passing slowdown of the "
        "machine skews no ratio",
    )
    add("--warmup", type=int, default=2, help="seconds of load before each measurement")
    add(
        "--login-duration",
        type=int,
        default=10,
        help="seconds of login at concurrency 1 (its latency is compared with bcrypt)",
    )
    add("--users", type=int, default=1000, help="users seeded")
    add("--token-rows", type=int, default=1000, help="refresh-token rows at first")
    add(
        "--access-tokens",
        type=int,
        default=1000,
        help="distinct access tokens (sessions) in rotation for /users/me and introspection",
    )
    add("--algorithm", default="ES256", help="JWT_ALGORITHM of the server (ES256, RS256, EdDSA)")
    add(
        "--large-token-rows",
        type=int,
        default=1_000_000,
        help="refresh-token rows for the second /users/me measurement",
    )
    add("--bcrypt-rounds", type=int, default=12, help="bcrypt cost (production default 12)")
    add(
        "--backend",
        action="append",
        choices=["sqlite", "postgresql"],
        help="repeat for several (default: sqlite, and postgresql when BENCH_DATABASE_URL is set)",
    )
    add("--runs", type=int, default=1, help="whole runs; targets are judged on the medians")
    add("--json", type=Path, default=RESULTS / "latest.json", help="where the JSON goes")
    add(
        "--smoke",
        action="store_true",
        help="a few seconds with tiny data: proves the benchmark runs (make test does this)",
    )
    options = parser.parse_args(argv)
    if options.smoke:
        options.__dict__.update(
            workers=2,
            connections=4,
            duration=1,
            warmup=0,
            login_duration=1,
            users=20,
            token_rows=100,
            large_token_rows=1000,
            access_tokens=100,
            bcrypt_rounds=4,
        )
    if options.slices is None:
        options.slices = 1 if options.smoke else 3
    if not options.backend:
        options.backend = ["sqlite"] + (
            ["postgresql"] if os.environ.get("BENCH_DATABASE_URL") else []
        )
    return options


def main(argv=None):
    options = parse_args(argv)
    try:
        wrk = find_wrk()
    except LoadGeneratorError as exc:
        print(exc, file=sys.stderr)
        return 2
    runs = []
    for number in range(1, options.runs + 1):
        print(f"== run {number} of {options.runs}", flush=True)
        run = [bench_backend(backend, options, wrk) for backend in options.backend]
        print(report.format_table(run))
        print(report.format_figures(run), flush=True)
        runs.append(run)
    medians = report.median_figures(runs)
    print()
    print(report.format_targets(medians, len(runs)))
    costs = verify_costs.measure_all(tokens=100 if options.smoke else 1000)
    print()
    print("Access-token algorithms, in one process (median over distinct tokens):")
    print(verify_costs.format_table(costs))
    errors = sum(
        sum(row["errors"].values()) + (row["requests"] == 0)
        for run in runs
        for backend in run
        for row in backend["rows"].values()
    )
    write_json(options, runs, medians, errors, costs)
    if errors:
        print(f"FAILED: {errors} request(s) errored (or a measurement served none)")
        return 1
    return 0


def write_json(options, runs, medians, errors, costs):
    document = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "machine": {
            "cpus": multiprocessing.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(options).items()},
        "runs": runs,
        "medians": medians,
        "targets": report.target_results(medians),
        "errors": errors,
        "algorithm_costs": costs,
    }
    options.json.parent.mkdir(parents=True, exist_ok=True)
    options.json.write_text(json.dumps(document, indent=2) + "\n")
    print(f"JSON: {options.json}")


def git_commit():
    try:
        return (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
            ).stdout.strip()
            or None
        )
    except OSError:
        return None


@contextmanager
def database(backend, directory):
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'bench.db'}"
    else:
        base = os.environ.get("BENCH_DATABASE_URL")
        if not base:
            raise SystemExit("--backend postgresql needs BENCH_DATABASE_URL")
        # A throwaway database beside the one named: the benchmark never
        # touches that database's own tables.
        with postgres_database(base, "bench") as url:
            yield url


def server_env(options, url, secret_key):
    return {
        "APP_ENV": "production",
        "SECRET_KEY": secret_key,
        "DATABASE_URL": url,
        "BCRYPT_LOG_ROUNDS": str(options.bcrypt_rounds),
        "RATELIMIT_ENABLED": "true",
        "RATELIMIT_STORAGE_URI": "memory://",
        "LOGIN_RATE_LIMIT": UNLIMITED,
        "REGISTER_RATE_LIMIT": UNLIMITED,
        "REFRESH_RATE_LIMIT": UNLIMITED,
        "METRICS_ENABLED": "false",
        "JWT_ISSUER": ISSUER,
        "JWT_ALGORITHM": options.algorithm,
        **RELYING_PARTY,
        # Registrations queue their verification mail (part of the measured work);
        # nothing delivers it during a benchmark.
        "MAIL_BACKEND": "file",
        "MAIL_SENDER_ENABLED": "false",
        "GUNICORN_WORKER_CLASS": options.worker_class,
        "GUNICORN_THREADS": str(options.threads),
        "LOG_LEVEL": "info",
    }


def authsvc_app(url, secret_key, options):
    """authsvc configured as its benchmarked servers are, to seed and time in this process."""
    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": secret_key,
            "BCRYPT_LOG_ROUNDS": options.bcrypt_rounds,
            "APP_ENV": "production",
            "JWT_ISSUER": ISSUER,
            "JWT_ALGORITHM": options.algorithm,
            **RELYING_PARTY,
            "MAIL_BACKEND": "file",
            "MAIL_SENDER_ENABLED": False,
        }
    )


def bench_backend(backend, options, wrk):
    with tempfile.TemporaryDirectory(prefix="authsvc-bench-") as tmp:
        tmp = Path(tmp)
        with database(backend, tmp) as url:
            return _bench_backend(backend, url, options, wrk, tmp)


def _bench_backend(backend, url, options, wrk, tmp):
    print(f"-- {backend}", flush=True)
    secret_key = secrets.token_urlsafe(48)
    env = server_env(options, url, secret_key)
    rows = {}

    def measure(
        key,
        server,
        script,
        data=None,
        *,
        warm_data=None,
        connections=None,
        duration=None,
        warmup=None,
        slices=None,
    ):
        """wrk on `server` (after `warmup` seconds on `warm_data`); the row goes to `rows`.

        `data` is one file, or one per slice (refresh tokens are spent once used).
        """
        connections = connections or options.connections
        slices = slices or options.slices
        data_files = data if isinstance(data, list) else [data] * slices
        load = {
            "connections": connections,
            "threads": 1 if connections == 1 else options.wrk_threads,
        }
        warmup = options.warmup if warmup is None else warmup
        if warmup:
            run_wrk(
                wrk,
                server.url,
                script,
                duration=warmup,
                data_file=warm_data or data_files[0],
                **load,
            )
        seconds = max(1, round((duration or options.duration) / slices))
        results = [
            run_wrk(wrk, server.url, script, duration=seconds, data_file=data_file, **load)
            for data_file in data_files[:slices]
        ]
        best = max(results, key=lambda result: result.rps)
        errors = {}
        for result in results:
            for kind, count in result.errors.items():
                errors[kind] = errors.get(kind, 0) + count
        rows[key] = {
            "label": LABELS[key],
            "connections": connections,
            **best.as_dict(),
            "errors": errors,
            "slices_rps": [round(result.rps, 1) for result in results],
        }
        print(
            f"   {LABELS[key]}: {best.rps:.1f} req/s (slices: "
            f"{', '.join(f'{result.rps:.0f}' for result in results)}), "
            f"p50 {best.p50_ms:.2f} ms, errors {sum(errors.values())}",
            flush=True,
        )

    baseline = LiveServer(
        url,
        workers=options.workers,
        env=env,
        app="bench.baseline:app",
        health_path="/ping",
        log_path=tmp / "baseline.log",
    )
    with baseline:
        measure("baseline", baseline, "baseline")

    migrate(url, env)
    app = authsvc_app(url, secret_key, options)
    with app.app_context():
        started = time.perf_counter()
        user_ids, files = seed.prepare(
            tmp,
            users=options.users,
            token_rows=options.token_rows,
            sessions=max(2 * options.connections, 64),
            access_sessions=options.access_tokens,
            refresh_sets=options.slices,
        )
        small_rows = seed.token_rows()
        seed_seconds = time.perf_counter() - started
        bcrypt_ms = time_bcrypt()

    server = LiveServer(url, workers=options.workers, env=env, log_path=tmp / "authsvc.log")
    with server:
        measure("me", server, "me", data=files["access"])
        with app.app_context():
            started = time.perf_counter()
            seed.grow_token_tables(options.large_token_rows, user_ids)
            large_rows = seed.token_rows()
            grow_seconds = time.perf_counter() - started
        print(
            f"   token tables grown to {large_rows:,} refresh-token rows in {grow_seconds:.0f} s",
            flush=True,
        )
        measure("me_large", server, "me", data=files["access"])
        measure("jwks", server, "jwks")
        measure("introspect", server, "introspect", data=files["introspect"])
        # Refresh and login write; measured after both /users/me runs, so those
        # two differ only in the token tables' size.
        measure(
            "refresh",
            server,
            "refresh",
            data=files["refresh-sets"],
            warm_data=files["refresh-warm"],
        )
        measure(
            "login",
            server,
            "login",
            data=files["login"],
            connections=1,
            duration=options.login_duration,
            warmup=0,
            slices=1,  # a latency at concurrency 1, compared with bcrypt's
        )
        rss = worker_peak_rss_mb(server.process.pid)
    # Again at the end: the ratios use the faster of the two.
    with baseline:
        measure("baseline_end", baseline, "baseline")
    with app.app_context():
        db.engine.dispose()  # before the throwaway database is dropped

    result = {
        "backend": backend,
        "workers": options.workers,
        "worker_class": options.worker_class,
        "connections": options.connections,
        "bcrypt_rounds": options.bcrypt_rounds,
        "bcrypt_verify_ms": bcrypt_ms,
        "token_rows": {"small": small_rows, "large": large_rows},
        "access_tokens": options.access_tokens,
        "algorithm": options.algorithm,
        "seed_seconds": round(seed_seconds + grow_seconds, 1),
        "worker_peak_rss_mb": max(rss.values()),
        "workers_peak_rss_mb": rss,
        "rows": rows,
    }
    result["figures"] = report.figures(result)
    return result


def time_bcrypt(samples=7):
    """Median milliseconds of one verification, as login does it, at the app's cost."""
    stored = passwords.hash_password(seed.PASSWORD)
    passwords.verify_password(stored, seed.PASSWORD)
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        passwords.verify_password(stored, seed.PASSWORD)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def worker_pids(master_pid):
    """The pids of the gunicorn master's workers (its child processes)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # `pid (comm) state ppid ...`: comm may hold spaces, so split after it.
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == master_pid:
            pids.append(int(stat.parent.name))
    if not pids:
        raise RuntimeError("no gunicorn workers found")
    return sorted(pids)


def worker_peak_rss_mb(master_pid):
    """Peak resident set size (VmHWM, MB) of each of the gunicorn master's workers."""
    peaks = {}
    for pid in worker_pids(master_pid):
        status = Path(f"/proc/{pid}/status").read_text()
        hwm = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
        peaks[str(pid)] = int(hwm.split()[1]) / 1024
    return peaks
