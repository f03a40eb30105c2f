"""Run the load and crash scenarios against gunicorn on each backend and print the figures.

    python -m testing.load [--duration 60] [--clients 32] [--workers 4] [--backend sqlite]

PostgreSQL runs when TEST_DATABASE_URL is set (a throwaway database is created
beside it). Exits non-zero when any scenario saw an error.
"""

import argparse
import sys
import tempfile
from pathlib import Path

from testing.databases import BACKENDS

from .scenarios import crash_run, load_run


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m testing.load", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--backend", action="append", choices=["sqlite", "postgresql"])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of steady load")
    parser.add_argument("--clients", type=int, default=32, help="concurrent client threads")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--crash-after", type=float, default=5.0, help="seconds before kill -9")
    parser.add_argument("--no-crash", action="store_true", help="skip the crash scenario")
    args = parser.parse_args(argv)
    backends = args.backend or BACKENDS
    if "postgresql" in backends and "postgresql" not in BACKENDS:
        parser.error("--backend postgresql needs TEST_DATABASE_URL")

    settings = {"clients": args.clients, "workers": args.workers}
    failed = False
    with tempfile.TemporaryDirectory(prefix="authsvc-load-") as tmp:
        for backend in backends:
            directory = Path(tmp) / backend
            directory.mkdir()
            reports = [load_run(backend, directory, duration=args.duration, **settings)]
            print(reports[-1].summary(), flush=True)
            if not args.no_crash:
                reports.append(
                    crash_run(backend, directory, crash_after=args.crash_after, **settings)
                )
                print(reports[-1].summary(), flush=True)
            failed |= any(report.failures or report.ledger.errors for report in reports)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
