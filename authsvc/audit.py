"""The audit trail: one structured log record per security-relevant event.

Records go to the `authsvc.audit` logger, with their fields in `extra` (a JSON
formatter turns them into one line each): `event`, `user_id` (the account the
event is about), `session_id`, `actor_id` (the authenticated caller, when there
is one), `ip`, `request_id`, plus a few event-specific fields. No record ever
carries a password, a hash or a token: `record` refuses such field names.
"""

import logging

from flask import has_request_context, request

from .jwt_callbacks import current_session_id, current_user_id
from .observability import current_request_id

logger = logging.getLogger("authsvc.audit")
# The trail is kept whatever the root logger's level: it is not debug chatter.
logger.setLevel(logging.INFO)

MAX_REQUEST_ID = 128
SECRET_FIELDS = frozenset(
    {
        "password",
        "current_password",
        "password_hash",
        "token",
        "access_token",
        "refresh_token",
        "code",
        "mfa_code",
        "mfa_token",
        "secret",
        "recovery_codes",
    }
)


def record(event, *, user_id=None, session_id=None, level=logging.INFO, **fields):
    """Log one audit event about `user_id` and (when given) `session_id`.

    Without a `session_id`, the record names the session of the caller's
    verified access token, if any (an admin's action is made from a session too).
    """
    leaked = SECRET_FIELDS.intersection(fields)
    if leaked:
        raise ValueError(f"audit records never carry secrets: {sorted(leaked)}")
    context = request_context()
    if session_id is None:
        session_id = current_session_id()
    extra = {"event": event, "user_id": user_id, "session_id": session_id, **context, **fields}
    logger.log(level, "audit %s", event, extra=extra)


def failure(event, **fields):
    """Log an audit event that may be an attack (a failed login, token reuse)."""
    record(event, level=logging.WARNING, **fields)


def request_context():
    """Who is calling, from where, in which request (all None outside a request)."""
    context = {"actor_id": None, "ip": None, "request_id": None}
    if has_request_context():
        context["actor_id"] = current_user_id()
        context["ip"] = request.remote_addr
        context["request_id"] = (
            current_request_id() or request.headers.get("X-Request-ID", "")[:MAX_REQUEST_ID] or None
        )
    return context
