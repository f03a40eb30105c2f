"""Accounts: the rules every account keeps, and its holder's own use cases
(register, log in, change one's profile); each commits once. User
administration (admins, `flask seed-admin`) builds on them in `admin`.

Domain failures are raised as `errors.ServiceError` subclasses, which the HTTP
layer turns into problem responses and the CLI into messages.
"""

from contextlib import contextmanager

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError

from . import audit, email_flows, mail, mfa_login, passwords, sessions
from .errors import (
    AccountDisabled,
    BadRequest,
    Conflict,
    InvalidCredentials,
    MfaRequired,
    NotFound,
    ValidationFailed,
)
from .extensions import db
from .models import User, utcnow

MAX_USER_ID = 2**31 - 1  # users.id is a 32-bit integer on PostgreSQL


def find_by_login(login):
    """The user whose username or email is `login`, without regard to case."""
    login = login.strip().lower()
    column = User.email if "@" in login else User.username_key
    return db.session.execute(select(User).where(column == login)).scalar_one_or_none()


def get_user(user_id):
    # An id past the column's range is no user (and PostgreSQL would refuse the query).
    user = db.session.get(User, user_id) if 0 < user_id <= MAX_USER_ID else None
    if user is None:
        raise NotFound("User not found")
    return user


def _check_password_policy(password, username, email):
    problems = passwords.policy_problems(password, username=username, email=email)
    if problems:
        raise ValidationFailed("Password refused", errors={"password": problems})


def _check_unique(email=None, username=None, exclude_id=None):
    taken = {}
    if email is not None:
        query = select(User.id).where(User.email == email.lower())
        if exclude_id is not None:
            query = query.where(User.id != exclude_id)
        if db.session.execute(query).first():
            taken["email"] = ["Email is already registered."]
    if username is not None:
        query = select(User.id).where(User.username_key == username.lower())
        if exclude_id is not None:
            query = query.where(User.id != exclude_id)
        if db.session.execute(query).first():
            taken["username"] = ["Username is already taken."]
    if taken:
        raise Conflict(" ".join(msg for msgs in taken.values() for msg in msgs), errors=taken)


@contextmanager
def unique_names():
    """Turn a lost race on a unique column (email, username) into a 409."""
    try:
        yield
    except IntegrityError:
        db.session.rollback()
        raise Conflict("Email or username is already taken") from None


def commit_unique():
    with unique_names():
        db.session.commit()


def new_user(email, username, password, full_name=None, *, is_active=True, is_admin=False):
    _check_password_policy(password, username, email)
    _check_unique(email=email, username=username)
    user = User(
        email=email.lower(),
        full_name=full_name,
        password_hash=passwords.hash_password(password),
        is_active=is_active,
        is_admin=is_admin,
    )
    user.set_username(username)
    db.session.add(user)
    with unique_names():
        db.session.flush()
    return user


def register(data, client):
    """Create an account, queue its verification mail, open its first session (if allowed).

    Return (user, `sessions.SessionStarted`), or (user, None) with EMAIL_VERIFICATION_REQUIRED.
    """
    user = new_user(data["email"], data["username"], data["password"], data.get("full_name"))
    mail.send_verification(user)
    started = None if email_flows.verification_required() else sessions.start(user, client)
    commit_unique()
    audit.record("user.register", user_id=user.id, session_id=started and started.session_id)
    return user, started


def authenticate(login, password, client):
    """Check credentials and open a session; return (user, `sessions.SessionStarted`).

    An unknown login costs the same bcrypt work as a wrong password, and both
    raise the same error, so neither timing nor body tells who has an account.
    """
    user = find_by_login(login)
    if not passwords.verify_login(user and user.password_hash, password):
        if user is None:
            audit.failure("login.failure", login=login, reason="unknown_user")
        else:
            audit.failure("login.failure", user_id=user.id, login=login, reason="wrong_password")
        raise InvalidCredentials()
    if not user.is_active:
        audit.failure("login.failure", user_id=user.id, login=login, reason="account_disabled")
        raise AccountDisabled()
    email_flows.require_verified_email(user, login)
    proved_hash = user.password_hash
    if passwords.needs_rehash(proved_hash):
        proved_hash = _rehash(user, password)
    if user.mfa_enabled:
        # No session yet: the second step (`mfa_login.verify`) opens it.
        mfa_token = mfa_login.challenge(user)
        _check_still_proved(user, proved_hash, password, login)
        db.session.commit()
        audit.record("login.mfa_required", user_id=user.id)
        raise MfaRequired(mfa_token, mfa_login.METHODS)
    started = sessions.start(user, client)
    _check_still_proved(user, proved_hash, password, login)
    db.session.commit()
    audit.record("login.success", user_id=user.id, session_id=started.session_id)
    return user, started


def _rehash(user, password):
    """Store the password at the configured cost (caller commits); return the stored hash.

    Only if the stored hash is still the one just verified (a concurrent
    password change wins: the verified hash is returned then), and without
    touching `updated_at`: upkeep of the storage is no change of the account.
    """
    new_hash = passwords.hash_password(password)
    stored = db.session.execute(
        update(User)
        .where(User.id == user.id, User.password_hash == user.password_hash)
        .values(password_hash=new_hash, updated_at=User.updated_at)
        .execution_options(synchronize_session=False)
    ).rowcount
    return new_hash if stored == 1 else user.password_hash


# The user's credentials as a login commits, locked against a concurrent change:
# FOR SHARE on PostgreSQL (concurrent logins share it; a password change or a
# deactivation, which write the row, wait or are waited for). SQLite has no row
# locks: there the login's first write took the database's write lock, which a
# change needs too, and holds it to the commit.
CREDENTIALS_NOW = (
    select(User.password_hash, User.is_active)
    .where(User.id == bindparam("user_id"))
    .with_for_update(read=True)
)


def _check_still_proved(user, proved_hash, password, login):
    """Refuse a login whose password changed, or account was disabled, while it was checked.

    bcrypt checks the hash read before the login writes its session or MFA
    challenge, and a password change or deactivation committed in between ends
    the user's sessions before that row exists, so it would outlive them. With
    the row written (not committed), the user's row is read again under a lock:
    a change that committed first is seen here, and one that commits later
    waits for this login and then ends its session. A hash that differs from
    the one proved is checked again (a concurrent rehash keeps the password).
    """
    db.session.flush()
    now = db.session.execute(CREDENTIALS_NOW, {"user_id": user.id}).one()
    if now.password_hash != proved_hash and not passwords.verify_password(
        now.password_hash, password
    ):
        db.session.rollback()
        audit.failure("login.failure", user_id=user.id, login=login, reason="password_changed")
        raise InvalidCredentials()
    if not now.is_active:
        db.session.rollback()
        audit.failure("login.failure", user_id=user.id, login=login, reason="account_disabled")
        raise AccountDisabled()


def changes_to(user, data):
    """The items of `data` that differ from `user` (a given password always does)."""
    current = {
        "email": user.email,
        "username": user.username,
        "full_name": user.full_name,
        "is_active": user.is_active,
        "is_admin": user.is_admin,
    }
    if "email" in data:
        data = {**data, "email": data["email"].lower()}
    return {
        name: value for name, value in data.items() if name not in current or current[name] != value
    }


def apply_changes(user, changes):
    """Set the changed fields on `user`; return True when the password changed."""
    _check_unique(email=changes.get("email"), username=changes.get("username"), exclude_id=user.id)
    old_email = user.email
    for name in ("email", "full_name", "is_active", "is_admin"):
        if name in changes:
            setattr(user, name, changes[name])
    if "email" in changes:
        email_flows.email_changed(user, old_email)
    if "email_verified" in changes:  # an admin's word, after the change that would unset it
        user.email_verified = changes["email_verified"]
    if "username" in changes:
        user.set_username(changes["username"])
    if "password" in changes:
        _check_password_policy(changes["password"], user.username, user.email)
        user.password_hash = passwords.hash_password(changes["password"])
        email_flows.password_changed(user)
    return "password" in changes


def _check_names_against_password(password, changes):
    """A new username or email must not be part of the password the account keeps."""
    contained = passwords.contained_names(
        password, username=changes.get("username"), email=changes.get("email")
    )
    if contained:
        errors = {
            name: [f"Your password contains this {name}; choose another."] for name in contained
        }
        raise ValidationFailed("Your password contains the new name", errors=errors)


def update_profile(user, data, current_sid):
    """A user's change to their own account; a new password ends their other sessions.

    A `current_password`, needed to change the email or password, is checked
    whenever it is given; the password the account keeps must not contain a
    new username or email. Values equal to the current ones are no change.
    """
    changes = changes_to(
        user, {key: value for key, value in data.items() if key != "current_password"}
    )
    if ("email" in changes or "password" in changes) and "current_password" not in data:
        raise ValidationFailed(
            "current_password is required to change email or password",
            errors={"current_password": ["Required to change email or password."]},
        )
    if "current_password" in data:
        if not passwords.verify_password(user.password_hash, data["current_password"]):
            raise BadRequest("Current password is incorrect")
        if "password" not in changes:
            _check_names_against_password(data["current_password"], changes)
    if not changes:
        return user
    revoked = None
    if apply_changes(user, changes):
        revoked = sessions.revoke_all_sessions(user.id, keep_sid=current_sid)
    user.updated_at = utcnow()
    commit_unique()
    audit.record("profile.update", user_id=user.id, session_id=current_sid, fields=sorted(changes))
    if revoked is not None:
        audit.record(
            "password.change", user_id=user.id, session_id=current_sid, sessions_revoked=revoked
        )
    return user
