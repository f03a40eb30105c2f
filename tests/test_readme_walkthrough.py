"""The README's curl walkthrough, run verbatim against a real gunicorn."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from limits import parse

from config import load_config
from testing.live_server import BIN, ROOT, LiveServer, migrate

README = Path(__file__).resolve().parent.parent / "README.md"
MARKER = "@@@ step done @@@"


def walkthrough_steps():
    """(commands, expected output) pairs: each `#>` line closes a step."""
    text = README.read_text()
    block = text.split("<!-- walkthrough:start -->")[1].split("<!-- walkthrough:end -->")[0]
    lines = block.strip().splitlines()[1:-1]  # drop the ``` fences
    steps, commands = [], []
    for line in lines:
        if line.startswith("#> "):
            steps.append(("\n".join(commands), line[3:]))
            commands = []
        else:
            commands.append(line)
    return steps


def test_the_walkthrough_logs_in_well_under_the_login_limit():
    """Its logins all come from one address within a minute: one spare at least,
    so that a step more does not meet a 429 in the reader's terminal."""
    limit = parse(load_config({"APP_ENV": "development"}).LOGIN_RATE_LIMIT).amount
    logins = sum(commands.count("/api/v1/auth/login") for commands, _ in walkthrough_steps())
    assert 0 < logins < limit


def as_pattern(expected):
    return "^" + ".*".join(re.escape(part) for part in expected.split("...")) + "$"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("curl") is None, reason="the walkthrough uses curl")
def test_readme_walkthrough(tmp_path):
    url = f"sqlite:///{tmp_path / 'readme.db'}"
    migrate(url)
    steps = walkthrough_steps()
    assert len(steps) >= 8
    # The mail the walkthrough reads from instance/mail/ (relative to where it runs).
    env = {"RATELIMIT_ENABLED": "true", "MAIL_FILE_DIR": str(tmp_path / "instance" / "mail")}
    # One worker: each keeps its limits in its own memory, and two would halve the count.
    with LiveServer(url, workers=1, env=env) as server:
        script = "set -e\n" + "".join(f"{cmds}\necho '{MARKER}'\n" for cmds, _ in steps)
        script = script.replace("http://127.0.0.1:8000", server.url)
        # `flask` commands (as an operator runs them beside `make run`) reach the
        # server's database, with its SECRET_KEY.
        script = script.replace(".venv/bin/flask", str(BIN / "flask"))
        flask_env = {**server.env, "PYTHONPATH": str(ROOT)}
        result = subprocess.run(
            ["bash", "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env=flask_env,
        )
    assert result.returncode == 0, result.stderr
    outputs = result.stdout.split(f"{MARKER}\n")[:-1]
    assert len(outputs) == len(steps), result.stdout
    for (commands, expected), output in zip(steps, outputs, strict=True):
        assert re.match(as_pattern(expected), output.strip()), (commands, output)
