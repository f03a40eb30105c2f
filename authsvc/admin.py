"""User administration, for admins and `flask seed-admin`; each use case commits once."""

from contextlib import contextmanager

from sqlalchemy import false, func, or_, select, true

from . import audit, sessions
from .accounts import (
    apply_changes,
    changes_to,
    commit_unique,
    find_by_login,
    get_user,
    new_user,
    unique_names,
)
from .errors import BadRequest, Conflict
from .extensions import db
from .models import User, utcnow

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
        with unique_names():
            db.session.flush()
        if db.session.execute(select(func.count(User.id)).where(*ACTIVE_ADMIN)).scalar_one() == 0:
            db.session.rollback()
            raise Conflict("This would leave no active admin")


def create_user(data):
    """An admin creates an account (no session is opened)."""
    user = new_user(
        data["email"],
        data["username"],
        data["password"],
        data.get("full_name"),
        is_active=data.get("is_active", True),
        is_admin=data.get("is_admin", False),
    )
    user.email_verified = data.get("email_verified", False)  # no mail: the user may ask
    commit_unique()
    audit.record(
        "admin.user.create", user_id=user.id, is_admin=user.is_admin, is_active=user.is_active
    )
    return user


def update_user(user_id, data):
    """An admin's change to any account; password or deactivation ends its sessions.

    Values equal to the current ones are no change: nothing is written or recorded.
    """
    user = get_user(user_id)
    changes = changes_to(user, data)
    if not changes:
        return user
    with _last_admin_guard(user):
        password_changed = apply_changes(user, changes)
    revoked = 0
    if password_changed or not user.is_active:
        revoked = sessions.revoke_all_sessions(user.id)
    user.updated_at = utcnow()
    commit_unique()
    audit.record(
        "admin.user.update",
        user_id=user.id,
        fields=sorted(changes),
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
    user = new_user(email, username, password, is_admin=True)
    commit_unique()
    audit.record("admin.seed", user_id=user.id, new_account=True, changed=True)
    return user, True
