"""Keys and limits for Flask-Limiter on the auth endpoints."""

from flask import current_app, request
from flask_limiter.util import get_remote_address

from .. import accounts
from ..schemas import is_utf8_encodable


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
    user = accounts.find_by_login(login[:254])
    if user is not None:
        return f"account:{user.id}"
    return f"login:{login.strip().lower()[:254]}"


def is_text(value):
    return "\x00" not in value and is_utf8_encodable(value)
