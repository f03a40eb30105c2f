"""Run the cluster scenario and print its table (`make cluster`).

    python -m testing.cluster [--duration 60] [--clients 12] [--workers 2] [--keys-refresh 30]

Needs root (network namespaces), nginx, TEST_DATABASE_URL and TEST_REDIS_URL.
Exits non-zero when a check failed.
"""

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from .scenario import run_cluster


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m testing.cluster", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--clients", type=int, default=12, help="concurrent virtual users")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per host")
    parser.add_argument(
        "--keys-refresh",
        type=float,
        default=30.0,
        help="the hosts' KEYS_REFRESH_SECONDS (authsvc's default: 30)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the logs (printed path)")
    args = parser.parse_args(argv)
    directory = tempfile.mkdtemp(prefix="authsvc-cluster-")
    outcome = run_cluster(
        Path(directory),
        duration=args.duration,
        clients=args.clients,
        workers=args.workers,
        keys_refresh=args.keys_refresh,
    )
    print(outcome.table, flush=True)
    if args.keep:
        print(f"logs: {directory}")
    else:
        shutil.rmtree(directory, ignore_errors=True)
    return 1 if outcome.failures else 0


if __name__ == "__main__":
    sys.exit(main())
