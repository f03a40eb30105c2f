"""gunicorn settings for authsvc, read from the environment (and `.env`).

Use: `gunicorn -c gunicorn.conf.py wsgi:app`.
"""

import multiprocessing
import os
import shutil
import tempfile
from pathlib import Path

from dotenv import load_dotenv

load_dotenv(Path(__file__).resolve().parent / ".env")

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", min(4, multiprocessing.cpu_count() * 2)))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "0"))
# "-" is stdout (access) or stderr (errors); an empty GUNICORN_ACCESS_LOG turns it off.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
errorlog = os.environ.get("GUNICORN_ERROR_LOG") or "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# gunicorn 27 opens a control socket by default; a service needs none.
control_socket_disable = True
# Forwarded headers are handled by the app (ProxyFix, TRUSTED_PROXIES).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# --- Logs: gunicorn's own in the app's JSON-lines shape ----------------------
# The app puts its JSON handler on the root logger itself (authsvc.observability).


def _log_handler(target, formatter, stream):
    if target == "-":
        return {"class": "logging.StreamHandler", "formatter": formatter, "stream": stream}
    return {"class": "logging.FileHandler", "formatter": formatter, "filename": target}


logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "authsvc.observability.JsonFormatter"},
        "access": {"()": "authsvc.observability.AccessLogFormatter"},
    },
    "handlers": {
        "error": _log_handler(errorlog, "json", "ext://sys.stderr"),
        **({"access": _log_handler(accesslog, "access", "ext://sys.stdout")} if accesslog else {}),
    },
    "root": {"level": "WARNING", "handlers": []},
    "loggers": {
        "gunicorn.error": {"level": loglevel.upper(), "handlers": ["error"], "propagate": False},
        "gunicorn.access": {
            "level": "INFO",
            "handlers": ["access"] if accesslog else [],
            "propagate": False,
        },
    },
}

# --- Metrics: prometheus_client multiprocess mode ----------------------------
# Set before any worker imports prometheus_client: each worker then writes its
# samples to files here, and /metrics sums them whichever worker answers.
METRICS_TEMP_PREFIX = "authsvc-metrics-"
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix=METRICS_TEMP_PREFIX)
metrics_dir = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
# Exists before the logging setup below imports the app (and prometheus_client).
metrics_dir.mkdir(parents=True, exist_ok=True)


def on_starting(server):
    """Start from zero: samples left by an earlier run would be summed in."""
    for stale in metrics_dir.glob("*.db"):
        stale.unlink()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if metrics_dir.name.startswith(METRICS_TEMP_PREFIX) and metrics_dir.parent == Path(
        tempfile.gettempdir()
    ):
        shutil.rmtree(metrics_dir, ignore_errors=True)


# --- Mail: one sender thread per worker --------------------------------------
# Started after the worker has loaded the app (never in the master, whose fork
# would copy a thread that does not exist in the child); a restarted service
# resumes delivering the outbox by itself.


def post_worker_init(worker):
    from authsvc.mail import sender

    sender.start(worker.wsgi)


def worker_exit(server, worker):
    from authsvc.mail import sender

    sender.stop()
