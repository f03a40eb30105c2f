"""User use cases shared by the API and the CLI; each commits once.

Domain failures are raised as `errors.ServiceError` subclasses, which the HTTP
layer turns into problem responses and the CLI into messages.
"""

from contextlib import contextmanager

from sqlalchemy import false, func, or_, select, true
from sqlalchemy.exc import IntegrityError

from . import audit, passwords, sessions
from .errors import (
    AccountDisabled,
    BadRequest,
    Conflict,
    InvalidCredentials,
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
def _unique_names():
    """Turn a lost race on a unique column (email, username) into a 409."""
    try:
        yield
    except IntegrityError:
        db.session.rollback()
        raise Conflict("Email or username is already taken") from None


def _commit_unique():
    with _unique_names():
        db.session.commit()


def _new_user(email, username, password, full_name=None, *, is_active=True, is_admin=False):
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
    with _unique_names():
        db.session.flush()
    return user


def register(data, client):
    """Create an account and its first session; return (user, `sessions.SessionStarted`)."""
    user = _new_user(data["email"], data["username"], data["password"], data.get("full_name"))
    started = sessions.start(user, client)
    _commit_unique()
    audit.record("user.register", user_id=user.id, session_id=started.session_id)
    return user, started


def authenticate(login, password, client):
    """Check credentials and open a session; return (user, `sessions.SessionStarted`).

    An unknown login costs the same bcrypt work as a wrong password, and both
    raise the same error, so neither timing nor body tells who has an account.
    """
    user = find_by_login(login)
    if user is None:
        passwords.dummy_verify(password)
        audit.failure("login.failure", login=login, reason="unknown_user")
        raise InvalidCredentials()
    if not passwords.verify_password(user.password_hash, password):
        audit.failure("login.failure", user_id=user.id, login=login, reason="wrong_password")
        raise InvalidCredentials()
    if not user.is_active:
        audit.failure("login.failure", user_id=user.id, login=login, reason="account_disabled")
        raise AccountDisabled()
    started = sessions.start(user, client)
    db.session.commit()
    audit.record("login.success", user_id=user.id, session_id=started.session_id)
    return user, started


def _apply_changes(user, data):
    """Set the given fields on `user`; return True when the password changed."""
    email = data.get("email")
    username = data.get("username")
    _check_unique(email=email, username=username, exclude_id=user.id)
    if email is not None:
        user.email = email.lower()
    if username is not None:
        user.set_username(username)
    if "full_name" in data:
        user.full_name = data["full_name"]
    if "password" in data:
        _check_password_policy(data["password"], user.username, user.email)
        user.password_hash = passwords.hash_password(data["password"])
        return True
    return False


def update_profile(user, data, current_sid):
    """A user's change to their own account; a new password ends their other sessions."""
    email_changes = "email" in data and data["email"].lower() != user.email
    if email_changes or "password" in data:
        if "current_password" not in data:
            raise ValidationFailed(
                "current_password is required to change email or password",
                errors={"current_password": ["Required to change email or password."]},
            )
        if not passwords.verify_password(user.password_hash, data["current_password"]):
            raise BadRequest("Current password is incorrect")
    changes = {key: value for key, value in data.items() if key != "current_password"}
    revoked = None
    if _apply_changes(user, changes):
        revoked = sessions.revoke_all_sessions(user.id, keep_sid=current_sid)
    user.updated_at = utcnow()
    _commit_unique()
    audit.record("profile.update", user_id=user.id, session_id=current_sid, fields=sorted(changes))
    if revoked is not None:
        audit.record(
            "password.change", user_id=user.id, session_id=current_sid, sessions_revoked=revoked
        )
    return user


ACTIVE_ADMIN = (User.is_admin == true(), User.is_active == true())


@contextmanager
def _last_admin_guard(user):
    """Refuse a change that leaves no active admin, even when two race.

    The active admins' rows are locked first (PostgreSQL), and they are counted
    after the change is written (on SQLite that write holds the database's
    write lock), so two admins demoting each other at once cannot both succeed.
    """
    guarded = user.is_admin and user.is_active
    if guarded:
        db.session.execute(select(User.id).where(*ACTIVE_ADMIN).with_for_update()).all()
    yield
    if guarded:
        with _unique_names():
            db.session.flush()
        if db.session.execute(select(func.count(User.id)).where(*ACTIVE_ADMIN)).scalar_one() == 0:
            db.session.rollback()
            raise Conflict("This would leave no active admin")


def create_user(data):
    """An admin creates an account (no session is opened)."""
    user = _new_user(
        data["email"],
        data["username"],
        data["password"],
        data.get("full_name"),
        is_active=data.get("is_active", True),
        is_admin=data.get("is_admin", False),
    )
    _commit_unique()
    audit.record(
        "admin.user.create", user_id=user.id, is_admin=user.is_admin, is_active=user.is_active
    )
    return user


def update_user(user_id, data):
    """An admin's change to any account; password or deactivation ends its sessions."""
    user = get_user(user_id)
    with _last_admin_guard(user):
        password_changed = _apply_changes(user, data)
        if "is_admin" in data:
            user.is_admin = data["is_admin"]
        if "is_active" in data:
            user.is_active = data["is_active"]
    revoked = 0
    if password_changed or not user.is_active:
        revoked = sessions.revoke_all_sessions(user.id)
    user.updated_at = utcnow()
    _commit_unique()
    audit.record(
        "admin.user.update",
        user_id=user.id,
        fields=sorted(data),
        is_admin=user.is_admin,
        is_active=user.is_active,
        sessions_revoked=revoked,
    )
    if password_changed:
        audit.record("password.change", user_id=user.id, sessions_revoked=revoked)
    return user


def delete_user(user_id):
    """Delete an account and, by cascade, its sessions and tokens."""
    user = get_user(user_id)
    with _last_admin_guard(user):
        db.session.delete(user)
    db.session.commit()
    audit.record("admin.user.delete", user_id=user_id)


def revoke_user_sessions(user_id):
    user = get_user(user_id)
    count = sessions.revoke_all_sessions(user.id)
    db.session.commit()
    audit.record("admin.user.revoke_sessions", user_id=user_id, sessions_revoked=count)
    return count


def list_users(skip=0, limit=100, q=None, is_active=None, is_admin=None):
    """Users matching the filters, ordered by id; return (page, total)."""
    query = select(User)
    if q:
        pattern = (
            "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        )
        query = query.where(
            or_(
                User.email.like(pattern, escape="\\"),
                User.username_key.like(pattern, escape="\\"),
                func.lower(User.full_name).like(pattern, escape="\\"),
            )
        )
    if is_active is not None:
        query = query.where(User.is_active == (true() if is_active else false()))
    if is_admin is not None:
        query = query.where(User.is_admin == (true() if is_admin else false()))
    total = db.session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    page = db.session.execute(query.order_by(User.id).offset(skip).limit(limit)).scalars().all()
    return page, total


def seed_admin(email, username, password=None):
    """Create an admin, or make an existing user admin; return (user, created)."""
    user = find_by_login(email) or find_by_login(username)
    if user is not None:
        changed = not (user.is_admin and user.is_active)
        user.is_admin = True
        user.is_active = True
        if changed:
            user.updated_at = utcnow()
        db.session.commit()
        audit.record("admin.seed", user_id=user.id, new_account=False, changed=changed)
        return user, False
    if password is None:
        raise BadRequest("A password is needed to create a new admin")
    user = _new_user(email, username, password, is_admin=True)
    _commit_unique()
    audit.record("admin.seed", user_id=user.id, new_account=True, changed=True)
    return user, True
