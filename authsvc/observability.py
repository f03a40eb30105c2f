"""Request ids and structured logs: one JSON object per line, with the request's id.

Every response carries `X-Request-ID`: the client's own when it is sane, a new
one otherwise. The id sits in `flask.g.request_id` and in every log record
emitted while the request is handled (audit records included), so one grep
follows a request through the app's logs and gunicorn's access log.
"""

import json
import logging
import re
import sys
import traceback
import uuid
from datetime import UTC, datetime

from flask import g, has_request_context, request
from flask.logging import default_handler

REQUEST_ID_HEADER = "X-Request-ID"
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
APP_LOGGER = "authsvc"
# Attributes every LogRecord has; anything else on a record came from `extra=`.
STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
# `extra=` keys whose values are never written, whatever a caller passes.
SECRET_KEYS = frozenset(
    {
        "password",
        "current_password",
        "password_hash",
        "access_token",
        "refresh_token",
        "token",
        "authorization",
        "secret_key",
    }
)


def request_id_from(headers):
    """The client's request id when it is sane, else a new uuid4 hex."""
    candidate = headers.get(REQUEST_ID_HEADER, "")
    if SANE_REQUEST_ID.fullmatch(candidate):
        return candidate
    return uuid.uuid4().hex


def current_request_id():
    if has_request_context():
        return g.get("request_id")
    return None


class RequestIdFilter(logging.Filter):
    """Stamp each record with the id of the request being handled (or None)."""

    def filter(self, record):
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then any extras."""

    @staticmethod
    def entry(record, message, request_id):
        """The fields every line starts with."""
        return {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
            "request_id": request_id,
            "pid": record.process,
        }

    def format(self, record):
        entry = self.entry(record, record.getMessage(), getattr(record, "request_id", None))
        for key, value in vars(record).items():
            if key in STANDARD_ATTRIBUTES or key in entry:
                continue
            entry[key] = "[redacted]" if key.lower() in SECRET_KEYS else value
        if record.exc_info:
            entry["exc_info"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        if record.stack_info:
            entry["stack_info"] = record.stack_info
        return json.dumps(entry, default=str, ensure_ascii=False)


class AccessLogFormatter(JsonFormatter):
    """gunicorn's access log in the app's shape: its record's args are gunicorn's atoms.

    The path is logged without its query string, and no request header but
    the user agent, so nothing a client sends by mistake (a token in a URL)
    reaches the log.
    """

    def format(self, record):
        atoms = record.args if isinstance(record.args, dict) else {}

        def atom(key):
            value = atoms.get(key) if not key.startswith("{") else atoms.get(key.lower())
            if isinstance(value, str):
                value = value.replace('\\"', '"')  # undo gunicorn's quote escaping
            return None if value in (None, "-") else value

        status = atom("s")
        method, path = atom("m"), atom("U")
        entry = self.entry(record, f"{method} {path} {status}", atom("{x-request-id}o"))
        entry |= {
            "remote_addr": atom("h"),
            "method": method,
            "path": path,
            "status": int(status) if str(status).isdigit() else status,
            "bytes": atom("B"),
            "duration_ms": round(atom("D") / 1000, 3) if atom("D") is not None else None,
            "user_agent": atom("a"),
        }
        return json.dumps(entry, default=str, ensure_ascii=False)


class JsonHandler(logging.StreamHandler):
    """The app's handler on the root logger; `configure_logging` replaces it, never stacks it."""

    def __init__(self):
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.addFilter(RequestIdFilter())

    # Like logging.lastResort: whatever sys.stderr is now (gunicorn and pytest swap it).
    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


def configure_logging(level):
    """JSON lines on stderr for every logger; `level` for the app's own loggers.

    The root logger stays at WARNING: at INFO, SQLAlchemy would log every
    statement with its parameters, password hashes included.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, JsonHandler):
            root.removeHandler(handler)
    root.addHandler(JsonHandler())
    app_logger = logging.getLogger(APP_LOGGER)
    app_logger.setLevel(str(level).upper())
    app_logger.removeHandler(default_handler)


def assign_request_id():
    g.request_id = request_id_from(request.headers)


def add_request_id_header(response):
    response.headers[REQUEST_ID_HEADER] = g.get("request_id") or request_id_from({})
    return response
