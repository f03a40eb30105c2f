"""Keys and limits for Flask-Limiter on the auth endpoints."""

from flask import current_app, request
from flask_limiter.util import get_remote_address


def limit_from_config(name):
    """A limit read from the app's config at request time (e.g. `5 per minute`)."""
    return lambda: current_app.config[name]


def address_key():
    """The client address (after ProxyFix, which honours `TRUSTED_PROXIES`)."""
    return f"addr:{get_remote_address()}"


def account_key():
    """The account a login attempt targets, so spreading addresses does not help."""
    data = request.get_json(silent=True) if request.is_json else request.form
    login = data.get("username") if isinstance(data, dict) or hasattr(data, "get") else None
    if not isinstance(login, str) or not login.strip():
        return address_key()
    return f"account:{login.strip().lower()[:254]}"
