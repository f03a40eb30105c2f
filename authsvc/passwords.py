"""Password hashing, verification and policy: the only module that touches bcrypt.

Passwords are NFKC-normalized, then Flask-Bcrypt pre-hashes them with SHA-256
(`BCRYPT_HANDLE_LONG_PASSWORDS`) so bcrypt never truncates at 72 bytes.
"""

import unicodedata
from functools import cache
from importlib import resources

from flask import current_app

from .extensions import bcrypt

MIN_LENGTH = 8
MAX_LENGTH = 128
MIN_LOCAL_PART = 3


def normalize(password):
    return unicodedata.normalize("NFKC", password)


def hash_password(password):
    return bcrypt.generate_password_hash(normalize(password)).decode("ascii")


def verify_password(password_hash, password):
    return bcrypt.check_password_hash(password_hash, normalize(password))


def dummy_verify(password):
    """Spend the same bcrypt work as a real check, so timing reveals nothing."""
    verify_password(_dummy_hash(current_app.config["BCRYPT_LOG_ROUNDS"]), password)
    return False


@cache
def _dummy_hash(rounds):
    return bcrypt.generate_password_hash("authsvc-dummy-password", rounds).decode("ascii")


@cache
def common_passwords():
    """The shipped list, lower-cased; its header is the leading '#' lines."""
    lines = resources.files("authsvc").joinpath("data/common-passwords.txt").read_text("utf-8")
    lines = iter(lines.splitlines())
    for line in lines:
        if not line.startswith("#"):
            return frozenset([line, *lines]) - {""}
    return frozenset()


def policy_problems(password, *, username=None, email=None):
    """Return the reasons `password` is refused (an empty list when it is fine)."""
    password = normalize(password)
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"Password must be at least {MIN_LENGTH} characters long.")
    if len(password) > MAX_LENGTH:
        problems.append(f"Password must be at most {MAX_LENGTH} characters long.")
    if not password.isprintable():
        problems.append("Password must contain only printable characters.")
    folded = password.casefold()
    if folded in common_passwords():
        problems.append("Password is too common.")
    if username and username.casefold() in folded:
        problems.append("Password must not contain the username.")
    local_part = email.rpartition("@")[0] if email else ""
    if len(local_part) >= MIN_LOCAL_PART and local_part.casefold() in folded:
        problems.append("Password must not contain the email address.")
    return problems
