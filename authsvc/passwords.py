"""Password hashing, verification and policy: the only module that touches bcrypt.

Passwords are NFKC-normalized, then Flask-Bcrypt pre-hashes them with SHA-256
(`BCRYPT_HANDLE_LONG_PASSWORDS`) so bcrypt never truncates at 72 bytes.

Cost changes: a stored hash whose cost (or scheme) differs from
`BCRYPT_LOG_ROUNDS` is re-hashed at its owner's next successful login
(`needs_rehash`). Until every owner has logged in, stored costs differ, so the
dummy verification of an unknown login takes the cost most stored hashes have
(`dummy_rounds`): an unknown name then costs what the typical account costs,
and follows it to the new cost as logins upgrade the accounts.
"""

import time
import unicodedata
from functools import cache
from importlib import resources

from flask import current_app
from sqlalchemy import func, select

from .extensions import bcrypt, db
from .models import User

MIN_LENGTH = 8
MAX_LENGTH = 128
MIN_LOCAL_PART = 3


def normalize(password):
    return unicodedata.normalize("NFKC", password)


SCHEME = "$2b$"  # what Flask-Bcrypt writes: "$2b$12$" + salt and hash
# How long a process trusts its count of the stored costs (see `dummy_rounds`).
STORED_ROUNDS_TTL = 600  # seconds


def hash_password(password):
    # The cost is read at each call: Flask-Bcrypt keeps the cost of the last app
    # it was bound to, and one process may hold several apps (tests, CLI).
    rounds = current_app.config["BCRYPT_LOG_ROUNDS"]
    return bcrypt.generate_password_hash(normalize(password), rounds).decode("ascii")


def verify_password(password_hash, password):
    return bcrypt.check_password_hash(password_hash, normalize(password))


def rounds_of(password_hash):
    """The cost of a stored bcrypt hash, or None when it is no `$2b$` hash."""
    cost = password_hash[len(SCHEME) : len(SCHEME) + 2]
    return int(cost) if password_hash.startswith(SCHEME) and cost.isdigit() else None


def needs_rehash(password_hash):
    """Whether a stored hash has another scheme or cost than new hashes get."""
    return rounds_of(password_hash) != current_app.config["BCRYPT_LOG_ROUNDS"]


def verify_login(password_hash, password):
    """Check a login's password; `password_hash` None (no such user) costs the same."""
    dummy_rounds()  # on both paths, so that its occasional recount tells nothing
    if password_hash is None:
        return dummy_verify(password)
    return verify_password(password_hash, password)


def dummy_verify(password):
    """Spend the bcrypt work of a typical account's check, so timing reveals nothing."""
    verify_password(_dummy_hash(dummy_rounds()), password)
    return False


def dummy_rounds():
    """The cost of the unknown-user check: the cost most stored hashes have.

    Counted at most every `STORED_ROUNDS_TTL` seconds per app and process; with
    no account yet, the configured cost.
    """
    state = current_app.extensions.setdefault("authsvc.dummy_rounds", {"at": None})
    now = time.monotonic()
    if state["at"] is None or now - state["at"] > STORED_ROUNDS_TTL:
        state["rounds"] = stored_rounds_mode() or current_app.config["BCRYPT_LOG_ROUNDS"]
        state["at"] = now
    return state["rounds"]


def stored_rounds_mode():
    """The most common cost among the stored hashes (None when there are none)."""
    cost = func.substr(User.password_hash, len(SCHEME) + 1, 2)
    query = select(cost).group_by(cost).order_by(func.count().desc(), cost.desc()).limit(1)
    found = db.session.execute(query).scalar_one_or_none()
    return int(found) if found is not None and found.isdigit() else None


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
    contained = contained_names(password, username=username, email=email)
    if "username" in contained:
        problems.append("Password must not contain the username.")
    if "email" in contained:
        problems.append("Password must not contain the email address.")
    return problems


def contained_names(password, *, username=None, email=None):
    """Which of the account's names `password` contains: "username", "email" (the
    email's local part, when it has `MIN_LOCAL_PART` characters or more)."""
    folded = normalize(password).casefold()
    local_part = email.rpartition("@")[0] if email else ""
    contained = []
    if username and username.casefold() in folded:
        contained.append("username")
    if len(local_part) >= MIN_LOCAL_PART and local_part.casefold() in folded:
        contained.append("email")
    return contained
