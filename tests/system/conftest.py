"""Collect the figures of the load and cluster scenarios and print them at the end of the run."""

import pytest

FIGURES = pytest.StashKey[list]()


def pytest_configure(config):
    config.stash[FIGURES] = []


@pytest.fixture
def report_figures(request):
    """Keep a scenario report's summary for the terminal summary."""
    return request.config.stash[FIGURES].append


def pytest_terminal_summary(terminalreporter, config):
    figures = config.stash.get(FIGURES, [])
    if figures:
        terminalreporter.section("load, crash and cluster figures")
        for summary in figures:
            terminalreporter.write_line(summary)
