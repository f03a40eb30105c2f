"""The benchmark cannot rot: a smoke run of `python -m bench` on every backend.

wrk comes from Debian's packages (`make bench` and .ci/run install it); a
developer's machine without it skips these, CI never does.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

from bench import report
from bench.benchmark import LABELS
from bench.loadgen import run_wrk
from testing.databases import backend_params
from testing.live_server import ROOT, LiveServer

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("wrk") is None and not os.environ.get("CI"),
        reason="wrk is not installed (apt-get install wrk); CI runs these",
    ),
]


@pytest.mark.parametrize("backend", backend_params())
def test_smoke_run_measures_every_endpoint(backend, tmp_path):
    out = tmp_path / "bench.json"
    env = {**os.environ}
    if backend == "postgresql":
        env["BENCH_DATABASE_URL"] = os.environ["TEST_DATABASE_URL"]
    command = [sys.executable, "-m", "bench", "--smoke", "--json", str(out), "--backend", backend]
    completed = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "x base" in completed.stdout and "Targets (median of 1 run)" in completed.stdout

    result = json.loads(out.read_text())
    assert result["errors"] == 0
    [run] = result["runs"]
    [measured] = run
    assert measured["backend"] == backend
    assert set(measured["rows"]) == set(LABELS)
    for row in measured["rows"].values():
        assert row["requests"] > 0 and row["rps"] > 0
        assert sum(row["errors"].values()) == 0
    # The large measurement really ran on larger token tables.
    assert measured["token_rows"]["large"] >= 1000 > measured["token_rows"]["small"]
    assert measured["bcrypt_verify_ms"] > 0 and measured["worker_peak_rss_mb"] > 10
    assert set(measured["figures"]) == set(report.FIGURES)
    assert {(t["backend"], t["figure"]) for t in result["targets"]} == {
        (backend, figure) for figure in report.FIGURES
    }


def test_failed_requests_are_counted_as_errors(tmp_path):
    """A refresh token the service refuses shows in the errors, so bench exits 1."""
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("not-a-token\nanother-bad-token\n")
    # No schema is needed: the tokens fail before any query.
    with LiveServer(f"sqlite:///{tmp_path / 'bench.db'}", workers=1) as server:
        result = run_wrk(
            shutil.which("wrk"),
            server.url,
            "refresh",
            connections=2,
            duration=1,
            threads=1,
            data_file=tokens,
        )
    assert result.requests > 0
    assert result.errors["status"] == result.requests


def test_slices_each_spend_fresh_refresh_tokens(tmp_path):
    """With --slices, every slice of the refresh measurement presents unused tokens
    (a spent one would be reuse, and an error), and the row keeps every slice."""
    out = tmp_path / "bench.json"
    command = [sys.executable, "-m", "bench", "--smoke", "--slices", "2", "--json", str(out)]
    completed = subprocess.run(
        [*command, "--backend", "sqlite"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    [[backend]] = json.loads(out.read_text())["runs"]
    for key, row in backend["rows"].items():
        assert len(row["slices_rps"]) == (1 if key == "login" else 2)
        assert row["rps"] == max(row["slices_rps"])
        assert sum(row["errors"].values()) == 0
