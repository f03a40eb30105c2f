"""The two load scenarios, shared by `python -m testing.load` and the test suite:
a steady mixed load, and the same load cut by kill -9 and restarted."""

import threading
import time
from dataclasses import dataclass, field

from testing.databases import throwaway_database
from testing.live_server import LiveServer, migrate

from .checks import integrity_problems, verify_acknowledged
from .workload import Ledger, percentile, run_clients

LOG_ALARMS = ("database is locked", "Traceback")
MAX_WAIT_FOR_CYCLES = 30.0


@dataclass
class Report:
    backend: str
    scenario: str
    clients: int
    workers: int
    seconds: float = 0.0
    ledger: Ledger = field(default_factory=Ledger)
    figures: dict = field(default_factory=dict)
    failures: list = field(default_factory=list)

    def summary(self):
        ledger = self.ledger
        rate = ledger.served / self.seconds if self.seconds else 0.0
        verdict = "ok" if not (self.failures or ledger.errors) else "FAILED"
        lines = [
            f"[{self.backend} {self.scenario}: {verdict}] {self.clients} concurrent clients, "
            f"{self.workers} gunicorn workers, {self.seconds:.1f} s: "
            f"{ledger.served} requests served ({rate:.0f}/s), "
            f"{ledger.server_errors} 5xx, {ledger.connection_errors} connection errors, "
            f"{ledger.unexpected} unexpected replies; latency p50 "
            f"{percentile(ledger.latencies, 0.5) * 1000:.0f} ms, p99 "
            f"{percentile(ledger.latencies, 0.99) * 1000:.0f} ms",
            "    by endpoint: "
            + ", ".join(
                f"{path.rsplit('/', 1)[-1]} {status}: {count}"
                for (path, status), count in sorted(ledger.replies.items())
            ),
            "    " + ", ".join(f"{key} {value}" for key, value in self.figures.items()),
        ]
        lines += [f"    FAILURE: {failure}" for failure in self.failures]
        lines += [f"    sample: {sample}" for sample in ledger.samples]
        return "\n".join(lines)


def _scan_log(path):
    text = path.read_text(errors="replace") if path.exists() else ""
    return [f"gunicorn log mentions {alarm!r}" for alarm in LOG_ALARMS if alarm in text]


def load_run(backend, directory, *, clients=16, workers=4, duration=15.0, token_sample=None):
    """Mixed load on a fresh database; then check what was acknowledged (the token
    pairs over HTTP for a sample of `token_sample`, all of them when None)."""
    report = Report(backend, "load", clients, workers)
    log = directory / f"gunicorn-{backend}-load.log"
    with throwaway_database(backend, "load", directory) as url:
        migrate(url)
        with LiveServer(url, workers=workers, log_path=log) as server:
            started = time.monotonic()
            run_clients(server.url, clients=clients, duration=duration, ledger=report.ledger)
            report.seconds = time.monotonic() - started
            report.figures, report.failures = verify_acknowledged(
                server.url, url, report.ledger, token_sample=token_sample
            )
        report.failures += integrity_problems(url)
    report.failures += _scan_log(log)
    return report


def crash_run(backend, directory, *, clients=16, workers=4, crash_after=3.0, min_cycles=None):
    """Mixed load, kill -9 of gunicorn's whole process group in the middle of it (after
    `crash_after` seconds and `min_cycles` complete client cycles, `clients` by default),
    restart on the same database, then check what was acknowledged before the kill."""
    min_cycles = clients if min_cycles is None else min_cycles
    report = Report(backend, "crash", clients, workers)
    log = directory / f"gunicorn-{backend}-crash.log"
    ledger, crashing = report.ledger, threading.Event()
    with throwaway_database(backend, "crash", directory) as url:
        migrate(url)
        server = LiveServer(url, workers=workers, log_path=log).start()
        try:
            load = threading.Thread(
                target=run_clients,
                kwargs={
                    "base_url": server.url,
                    "clients": clients,
                    "duration": crash_after + 60,
                    "ledger": ledger,
                    "crashing": crashing,
                },
            )
            started = time.monotonic()
            load.start()
            # Kill in the middle of the load, once every kind of acknowledgement exists.
            deadline = started + crash_after + MAX_WAIT_FOR_CYCLES
            while time.monotonic() < deadline and (
                time.monotonic() < started + crash_after or len(ledger.live) < min_cycles
            ):
                time.sleep(0.05)
            crashing.set()
            server.kill()
            report.seconds = time.monotonic() - started
            load.join(timeout=60)
        finally:
            server.stop()
        damage = [f"right after the kill: {p}" for p in integrity_problems(url)]
        restarting = time.monotonic()
        with LiveServer(url, workers=workers, log_path=log) as restarted:
            restart_seconds = time.monotonic() - restarting
            figures, failures = verify_acknowledged(restarted.url, url, ledger)
        damage += [f"after the checks: {p}" for p in integrity_problems(url)]
    report.failures += damage + failures + _scan_log(log)
    report.figures = {
        "served before the kill": ledger.served,
        "cut by the kill": ledger.cut_by_crash,
        "restart": f"{restart_seconds:.1f} s",
        **figures,
        "integrity": "FAILED" if damage else "ok",
    }
    return report
