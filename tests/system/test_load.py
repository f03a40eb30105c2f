"""The load and crash scenarios, short enough for every `make test` (`make load` runs
them longer): zero errors under a mixed load, and nothing acknowledged is lost to kill -9."""

import os

import pytest

from testing.databases import backend_params
from testing.load.scenarios import crash_run, load_run

pytestmark = pytest.mark.slow

LOAD_SECONDS = float(os.environ.get("LOAD_TEST_SECONDS", "10"))
CLIENTS = 16
WORKERS = 4
CRASH_WORKERS = 3  # enough to have several transactions in flight; quicker to boot twice


@pytest.mark.parametrize("backend", backend_params())
def test_mixed_load_serves_everyone(backend, tmp_path, report_figures):
    report = load_run(
        backend, tmp_path, clients=CLIENTS, workers=WORKERS, duration=LOAD_SECONDS, token_sample=100
    )
    report_figures(report.summary())
    ledger = report.ledger
    assert ledger.served > 0 and ledger.registered, report.summary()
    # No 5xx (so no "database is locked" reached a client), no refused or reset connection.
    assert (ledger.server_errors, ledger.connection_errors, ledger.unexpected) == (0, 0, 0), (
        report.summary()
    )
    assert report.failures == [], report.summary()


@pytest.mark.parametrize("backend", backend_params())
def test_kill_9_mid_load_loses_nothing_acknowledged(backend, tmp_path, report_figures):
    report = crash_run(backend, tmp_path, clients=CLIENTS, workers=CRASH_WORKERS, crash_after=3.0)
    report_figures(report.summary())
    ledger = report.ledger
    assert ledger.registered and ledger.ended and ledger.live, report.summary()
    assert (ledger.server_errors, ledger.connection_errors, ledger.unexpected) == (0, 0, 0), (
        report.summary()
    )
    assert report.failures == [], report.summary()
