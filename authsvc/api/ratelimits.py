"""Keys and limits for Flask-Limiter on the auth endpoints (and on password
checks elsewhere), and which of its headers each answer keeps."""

import hashlib

from flask import current_app, g, request
from flask_jwt_extended import get_jwt_identity
from flask_limiter.util import get_remote_address
from sqlalchemy.exc import DBAPIError

from .. import accounts, mfa_login
from ..extensions import db
from ..schemas.fields import is_utf8_encodable

# Each 429 the spec documents (components/responses): the setting that holds
# its limit, and what it means.
LIMITED = {
    "REGISTER_RATE_LIMIT": ("REGISTER_RATE_LIMIT", "Too many registrations from this address"),
    "LOGIN_RATE_LIMIT": (
        "LOGIN_RATE_LIMIT",
        "Too many attempts from this address or for this account",
    ),
    "REFRESH_RATE_LIMIT": ("REFRESH_RATE_LIMIT", "Too many refreshes from this address"),
    "PASSKEY_LOGIN_RATE_LIMIT": (
        "PASSKEY_LOGIN_RATE_LIMIT",
        "Too many passkey login requests from this address",
    ),
    "PASSKEY_REGISTER_RATE_LIMIT": (
        "PASSKEY_REGISTER_RATE_LIMIT",
        "Too many passkey registration requests from this address or for this account",
    ),
    "MFA_VERIFY_RATE_LIMIT": (
        "MFA_VERIFY_RATE_LIMIT",
        "Too many second steps from this address or for this account",
    ),
    "INTROSPECTION_FAILURE_RATE_LIMIT": (
        "INTROSPECTION_FAILURE_RATE_LIMIT",
        "Too many failed client authentications from this address",
    ),
    "CURRENT_PASSWORD_GUESSES": (
        "LOGIN_RATE_LIMIT",
        "Too many current_password attempts for this account or from this address",
    ),
    "EMAIL_SEND_RATE_LIMIT": (
        "EMAIL_SEND_RATE_LIMIT",
        "Too many mails asked for from this address (EMAIL_SEND_RATE_LIMIT), or for this "
        "email address or account (EMAIL_TARGET_RATE_LIMIT)",
    ),
    "EMAIL_TOKEN_RATE_LIMIT": ("EMAIL_TOKEN_RATE_LIMIT", "Too many tokens tried from this address"),
}


def limit_from_config(name):
    """A limit read from the app's config at request time (e.g. `5 per minute`)."""
    return lambda: current_app.config[name]


def address_key():
    """The client address (after ProxyFix, which honours `TRUSTED_PROXIES`)."""
    return f"addr:{get_remote_address()}"


def account_key():
    """The account a login attempt targets, so spreading addresses does not help.

    An account's username and email share one budget; a login name that is no
    account gets its own, so guessing at it costs the same as at a real one.
    """
    try:
        data = request.get_json(silent=True) if request.is_json else request.form
    except RecursionError:  # absurdly nested JSON: the parser answers 400 later
        data = None
    login = data.get("username") if isinstance(data, dict) or hasattr(data, "get") else None
    if not isinstance(login, str) or not login.strip() or not is_text(login):
        return address_key()  # the schema will refuse it; no account has such a name
    try:
        user = accounts.find_by_login(login[:254])
    except DBAPIError:
        user = database_unavailable()  # keyed by the name until the database is back
    if user is not None:
        return f"account:{user.id}"
    return f"login:{login.strip().lower()[:254]}"


def mfa_account_key():
    """The account an `mfa_token` was issued to: a second step's budget is the account's.

    A token that is no one's (made up, or pruned) shares the address's budget.
    """
    data = request.get_json(silent=True) if request.is_json else None
    token = data.get("mfa_token") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token or len(token) > 256 or not is_text(token):
        return address_key()
    try:
        user_id = mfa_login.challenged_user_id(token)
    except DBAPIError:
        user_id = database_unavailable()  # the address's budget until the database is back
    return address_key() if user_id is None else f"account:{user_id}"


def database_unavailable():
    """A key function's look-up met a database outage: carry on as if it found nothing.

    Raising is no answer: Flask-Limiter takes a key function's error for its
    storage failing, switches every limit to this worker's memory, and logs a
    traceback on every request. The view then meets the outage itself (a 503
    that logs one line), with a usable session: not one stuck in the
    transaction the lost connection broke (a 500).
    """
    db.session.rollback()
    return None


def is_text(value):
    return "\x00" not in value and is_utf8_encodable(value)


def target_email_key():
    """The address a mail would go to, so spreading client addresses does not help.

    Hashed (the limiter's storage need not hold addresses); a body without a
    usable `email` shares the client address's budget (the schema refuses it).
    """
    try:
        data = request.get_json(silent=True) if request.is_json else None
    except RecursionError:
        data = None
    email = data.get("email") if isinstance(data, dict) else None
    if not isinstance(email, str) or not email.strip() or not is_text(email):
        return address_key()
    return f"mailto:{hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]}"


def caller_key():
    """The calling account (a verified access token), sharing nothing with other accounts."""
    return f"account:{get_jwt_identity()}"


def without_current_password():
    """Exempt a request from the password-guess limits when it checks no password."""
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # absurdly nested JSON: the parser answers 400 later
        return True
    return not (isinstance(data, dict) and "current_password" in data)


def note_own_retry_after(response):
    """Before Flask-Limiter's hook: the Retry-After the answer came with (a 503's), if any."""
    g.own_retry_after = response.headers.get("Retry-After")
    return response


def keep_retry_after_where_meant(response):
    """After Flask-Limiter's hook: only a 429's Retry-After is the limiter's.

    The limiter adds one to every answer of a limited view ("wait for my
    window"), or stretches the answer's own to its window: a 503 that says
    "try again in 5 s" would say 60. Any other answer keeps the Retry-After
    it came with (RFC 9110 gives it a meaning on 503 and 3xx), or none.
    """
    if response.status_code == 429:
        return response
    own = g.pop("own_retry_after", None)
    if own is None:
        response.headers.pop("Retry-After", None)
    else:
        response.headers["Retry-After"] = own
    return response
