"""The audit trail: one structured log record per security-relevant event.

Records go to the `authsvc.audit` logger, with their fields in `extra` (a JSON
formatter turns them into one line each): `event`, `user_id` (the account the
event is about), `session_id`, `actor_id` (the authenticated caller, when there
is one), `ip`, `request_id`, plus a few event-specific fields. No record ever
carries a password, a hash or a token: `record` refuses such field names.
"""

import logging

from flask import g, has_app_context, has_request_context, request
from flask_jwt_extended import get_jwt

logger = logging.getLogger("authsvc.audit")
# The trail is kept whatever the root logger's level: it is not debug chatter.
logger.setLevel(logging.INFO)

MAX_REQUEST_ID = 128
SECRET_FIELDS = frozenset(
    {"password", "current_password", "password_hash", "token", "access_token", "refresh_token"}
)


def record(event, *, user_id=None, session_id=None, level=logging.INFO, **fields):
    """Log one audit event; `session_id` defaults to the session the request acts in."""
    leaked = SECRET_FIELDS.intersection(fields)
    if leaked:
        raise ValueError(f"audit records never carry secrets: {sorted(leaked)}")
    context = request_context()
    if session_id is None:
        session_id = context.pop("session_id")
    else:
        context.pop("session_id")
    extra = {"event": event, "user_id": user_id, "session_id": session_id, **context, **fields}
    logger.log(level, "audit %s", event, extra=extra)


def failure(event, **fields):
    """Log an audit event that may be an attack (a failed login, token reuse)."""
    record(event, level=logging.WARNING, **fields)


def request_context():
    """Who is calling, from where, in which request (all None outside a request)."""
    context = {"session_id": None, "actor_id": None, "ip": None, "request_id": None}
    if has_app_context():
        context["session_id"] = g.get("session_id")
        context["request_id"] = g.get("request_id")
        context["actor_id"] = _actor_id()
    if has_request_context():
        context["ip"] = request.remote_addr
        if context["request_id"] is None:
            context["request_id"] = request.headers.get("X-Request-ID", "")[:MAX_REQUEST_ID] or None
    return context


def _actor_id():
    """The user id of a verified access token, read from its claims (never a query)."""
    try:
        subject = get_jwt().get("sub")
    except RuntimeError:  # no token was verified in this request
        return None
    return int(subject) if isinstance(subject, str) and subject.isdigit() else None
