"""A real gunicorn serving authsvc on 127.0.0.1, for load, concurrency and browser tests."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port(host="127.0.0.1"):
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def spawn(command, log_path=None, **popen_args):
    """Start `command` in a process group of its own, output appended to `log_path`."""
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    try:
        return subprocess.Popen(
            command, stdout=log, stderr=log, start_new_session=True, **popen_args
        )
    finally:
        if log is not subprocess.DEVNULL:
            log.close()  # the child holds its own copy


def flask_command(database_url, *args, env=None, timeout=120):
    """Run `flask ARGS...` against `database_url` as an operator would; its output.

    Raises RuntimeError with what the command printed when it fails."""
    run_env = {**os.environ, **(env or {}), "DATABASE_URL": database_url, "FLASK_APP": "wsgi"}
    done = subprocess.run(
        [str(BIN / "flask"), *args],
        cwd=ROOT,
        env=run_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode:
        raise RuntimeError(
            f"flask {' '.join(args)} exited with {done.returncode}: {done.stdout}{done.stderr}"
        )
    return done.stdout


def migrate(database_url, env=None):
    """Run `flask db upgrade` against `database_url` (the operators' own path)."""
    flask_command(database_url, "db", "upgrade", env=env)


class LiveServer:
    """gunicorn with the project's gunicorn.conf.py; stops itself on exit.

    `app` is the WSGI target and `health_path` the URL that answers 200 once it
    serves (the benchmark serves its bare-Flask baseline the same way).
    """

    def __init__(
        self,
        database_url,
        *,
        workers=2,
        env=None,
        log_path=None,
        app="wsgi:app",
        health_path="/health",
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url
        self.workers = workers
        self.env = {
            **os.environ,
            "APP_ENV": "testing",
            "SECRET_KEY": "live-server-secret-key-0123456789-abcdefghij",
            "DATABASE_URL": database_url,
            "BCRYPT_LOG_ROUNDS": "4",
            "RATELIMIT_ENABLED": "false",
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "WEB_CONCURRENCY": str(workers),
            **(env or {}),
        }
        self.log_path = log_path
        self.app = app
        self.health_path = health_path
        self.process = None

    def start(self, timeout=30):
        self.process = spawn(
            [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", self.app],
            self.log_path,
            cwd=ROOT,
            env=self.env,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(self.url + self.health_path, timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("gunicorn did not become healthy in time")

    def kill(self):
        """kill -9 the master and every worker (the whole process group)."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
