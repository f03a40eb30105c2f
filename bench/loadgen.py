"""Run wrk with one of the Lua scripts in bench/wrk and read its report line."""

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = Path(__file__).resolve().parent / "wrk"
RESULT_PREFIX = "BENCH_RESULT "


class LoadGeneratorError(RuntimeError):
    pass


def find_wrk():
    path = shutil.which("wrk")
    if path is None:
        raise LoadGeneratorError(
            "wrk is not installed: `make bench` installs it (apt-get install wrk), "
            "or install Debian's wrk package yourself"
        )
    return path


@dataclass(frozen=True)
class LoadResult:
    """What wrk measured: throughput, latency percentiles (ms) and errors."""

    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: dict

    @property
    def rps(self):
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def error_count(self):
        return sum(self.errors.values())

    def as_dict(self):
        return {
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "rps": round(self.rps, 1),
            "p50_ms": self.p50_ms,
            "p90_ms": self.p90_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
            "errors": self.errors,
        }


def run_wrk(wrk, url, script, *, connections, duration, threads, data_file=None, timeout=10):
    """Drive `url` with `script` for `duration` seconds; return its LoadResult."""
    threads = max(1, min(threads, connections))
    command = [
        wrk,
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={int(duration)}s",
        f"--timeout={int(timeout)}s",
        f"--script={SCRIPTS / f'{script}.lua'}",
        url,
        "--",
        str(data_file or "-"),
        str(threads),
    ]
    completed = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=duration + timeout + 30
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if completed.returncode != 0 or not lines:
        raise LoadGeneratorError(
            f"wrk {script} failed ({completed.returncode}):\n{completed.stdout}{completed.stderr}"
        )
    raw = json.loads(lines[-1][len(RESULT_PREFIX) :])
    latency = raw["latency_us"]
    return LoadResult(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        p50_ms=latency["p50"] / 1000,
        p90_ms=latency["p90"] / 1000,
        p99_ms=latency["p99"] / 1000,
        max_ms=latency["max"] / 1000,
        errors=raw["errors"],
    )
