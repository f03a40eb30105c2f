"""Where a worker's time goes: py-spy samples one gunicorn worker under wrk load.

    python -m bench.profile --endpoint me [--backend postgresql] [--duration 15]

One sync worker serves authsvc (seeded as by the benchmark) while wrk drives
the endpoint; py-spy records that worker without pausing it. Prints the
functions with the most inclusive and self time, and keeps py-spy's collapsed
stacks under bench/results/ (any flame-graph tool reads them).
"""

import argparse
import collections
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from authsvc.extensions import db
from testing.live_server import LiveServer, migrate

from . import seed
from .benchmark import RESULTS, authsvc_app, database, server_env, worker_pids
from .loadgen import find_wrk, run_wrk

# endpoint -> (wrk script, data file measured, data file for the warm-up)
ENDPOINTS = {
    "baseline": ("baseline", None, None),
    "me": ("me", "access", "access"),
    "refresh": ("refresh", "refresh", "refresh-warm"),
    "login": ("login", "login", "login"),
}
BCRYPT_ROUNDS = 12


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--endpoint", choices=sorted(ENDPOINTS), default="me")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--rate", type=int, default=500, help="py-spy samples per second")
    parser.add_argument("--token-rows", type=int, default=1000)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--out", type=Path, default=RESULTS)
    options = parser.parse_args(argv)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    wrk = find_wrk()
    script, measured, warm = ENDPOINTS[options.endpoint]
    stacks = options.out / f"profile-{options.endpoint}-{options.backend}.txt"
    options.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="authsvc-profile-") as tmp:
        tmp = Path(tmp)
        with database(options.backend, tmp) as url:
            secret_key = secrets.token_urlsafe(48)
            settings = argparse.Namespace(
                bcrypt_rounds=BCRYPT_ROUNDS, worker_class="sync", threads=1
            )
            env = server_env(settings, url, secret_key)
            files = {}
            if script == "baseline":
                app_target = {"app": "bench.baseline:app", "health_path": "/ping"}
            else:
                app_target = {}
                migrate(url, env)
                app = authsvc_app(url, secret_key, BCRYPT_ROUNDS)
                with app.app_context():
                    _, files = seed.prepare(
                        tmp,
                        users=100,
                        token_rows=options.token_rows,
                        sessions=4 * options.connections,
                    )
                    db.engine.dispose()
            with LiveServer(url, workers=1, env=env, **app_target) as server:
                [worker] = worker_pids(server.process.pid)
                # Warm the worker first: imports and statement caches are not the hot path.
                run_wrk(
                    wrk,
                    server.url,
                    script,
                    connections=1,
                    duration=1,
                    threads=1,
                    data_file=files.get(warm),
                )
                results = []
                load = threading.Thread(
                    target=lambda: results.append(
                        run_wrk(
                            wrk,
                            server.url,
                            script,
                            connections=options.connections,
                            duration=options.duration + 2,
                            threads=1,
                            data_file=files.get(measured),
                        )
                    )
                )
                load.start()
                subprocess.run(
                    [
                        py_spy,
                        "record",
                        "--pid",
                        str(worker),
                        "--duration",
                        str(options.duration),
                        "--rate",
                        str(options.rate),
                        "--nonblocking",
                        "--format",
                        "raw",
                        "--output",
                        str(stacks),
                    ],
                    check=True,
                    capture_output=True,
                )
                load.join()
    [result] = results
    print(
        f"wrk: {result.requests} requests in {result.seconds:.1f} s "
        f"({result.rps:.0f}/s, errors {result.error_count}) over the {options.duration} s "
        "py-spy recorded plus 2 s"
    )
    print(summarize(stacks, options.top))
    print(f"collapsed stacks: {stacks}")


def summarize(path, top):
    """Inclusive and self share of samples per function, from py-spy's raw output."""
    inclusive, own = collections.Counter(), collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        count = int(count)
        frames = [strip_line(frame) for frame in stack.split(";")]
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    lines = [f"{total} samples", "", "inclusive  function"]
    lines += [f"{100 * n / total:8.1f}%  {name}" for name, n in inclusive.most_common(top)]
    lines += ["", "self       function"]
    lines += [f"{100 * n / total:8.1f}%  {name}" for name, n in own.most_common(top)]
    return "\n".join(lines)


def strip_line(frame):
    """`func (path/to/file.py:123)` -> `func (file.py)`, so lines of a function add up."""
    name, _, where = frame.partition(" (")
    file = where.rsplit(":", 1)[0].rstrip(")")
    return f"{name} ({'/'.join(file.split('/')[-2:])})"


if __name__ == "__main__":
    main()
