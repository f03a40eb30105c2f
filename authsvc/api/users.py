"""Blueprint `users`: one's own profile, and user administration."""

from functools import wraps

from flask_jwt_extended import current_user, get_current_user
from marshmallow import RAISE

from .. import accounts, admin
from ..errors import Forbidden, NotFound
from ..jwt_callbacks import caller_for_update, current_session_id
from ..schemas.accounts import (
    AccountContext,
    AdminUserCreateSchema,
    AdminUserUpdateSchema,
    ProfileUpdateSchema,
    UserQuerySchema,
    UserSchema,
)
from ..schemas.responses import SessionsRevokedSchema
from . import ADMIN_REQUIRED, API_PREFIX, Blueprint, admin_required, authenticated
from . import examples as ex
from .ratelimits import address_key, caller_key, without_current_password

blp = Blueprint(
    "users",
    __name__,
    url_prefix=f"{API_PREFIX}/users",
    description="Your profile, and user administration (admins)",
)

# No `max=` on the converter: past it werkzeug answers 405 to PUT and DELETE
# (a GET rule matched the path) where GET gets 404; accounts.get_user bounds ids.
# Signed, so `/users/-1` reaches the view and gets the contract's 401/403/404.
USER_ID = "<int(signed=True):user_id>"
LAST_ADMIN = "This would leave no active admin"


def changes_account(lookup):
    """Give the body's schema the account the view changes (`lookup(**view_args)`,
    None when missing), so a new password is checked against its current names."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            with AccountContext({"account": lookup(**kwargs)}):
                return view(*args, **kwargs)

        return wrapper

    return decorator


def existing_user(user_id):
    try:
        return accounts.get_user(user_id)
    except NotFound:
        return None  # the use case answers 404 once the body is valid


@blp.route("/me", methods=["GET"])
@authenticated
@blp.response(200, UserSchema, example=ex.USER)
def get_me():
    """Return the calling user"""
    # The row's mapping, not the `current_user` proxy: serializing through the
    # proxy costs a context lookup for every attribute read.
    return get_current_user()._mapping


# A current_password is a password guess: limited like a login, per account
# and per address, for anyone holding a stolen access token.
@blp.route("/me", methods=["PUT", "PATCH"])
@authenticated
@blp.rate_limit(
    "LOGIN_RATE_LIMIT",
    address_key,
    caller_key,
    exempt_when=without_current_password,
    documented_as="CURRENT_PASSWORD_GUESSES",
)
@changes_account(get_current_user)
@blp.arguments(
    ProfileUpdateSchema,
    required=False,  # none: no change
    example=ex.PROFILE_UPDATE,
    bad_request="The body is not valid JSON, or current_password is wrong",
)
@blp.response(200, UserSchema, example=ex.USER)
@blp.problem(409, "Email or username taken", detail="Username is already taken.")
def update_me(data):
    """Change the calling user's profile; a new password ends the other sessions"""
    return accounts.update_profile(caller_for_update(), data, current_sid=current_session_id())


@blp.route("", methods=["GET"])
@admin_required
@blp.arguments(UserQuerySchema, location="query", unknown=RAISE)
@blp.response(
    200,
    UserSchema(many=True),
    headers={
        "X-Total-Count": {
            "description": "Users matching the filters, before skip and limit",
            "schema": {"type": "integer"},
        }
    },
    example=[ex.USER],
)
def list_users(query):
    """List users ordered by id (admin)"""
    page, total = admin.list_users(**query)
    return page, 200, {"X-Total-Count": str(total)}


@blp.route("", methods=["POST"])
@admin_required
@blp.arguments(AdminUserCreateSchema, example=ex.ADMIN_CREATE)
@blp.response(201, UserSchema, example=ex.USER)
@blp.problem(409, "Email or username taken", detail="Email is already registered.")
def create_user(data):
    """Create a user (admin)"""
    return admin.create_user(data)


@blp.route(f"/{USER_ID}", methods=["GET"])
@authenticated
@blp.response(200, UserSchema, example=ex.USER)
@blp.problem(403, "Another user's account, and not an admin", detail=ADMIN_REQUIRED)
@blp.problem(404, "No such user (told to admins only)", detail="User not found")
def get_user(user_id):
    """Return a user (admin, or the user themself)"""
    if not current_user.is_admin and current_user.id != user_id:
        raise Forbidden(ADMIN_REQUIRED)
    return accounts.get_user(user_id)


@blp.route(f"/{USER_ID}", methods=["PUT", "PATCH"])
@admin_required
@changes_account(existing_user)
@blp.arguments(AdminUserUpdateSchema, required=False, example=ex.ADMIN_UPDATE)  # none: no change
@blp.response(200, UserSchema, example=ex.USER)
@blp.problem(404, "No such user", detail="User not found")
@blp.problem(409, "Email or username taken, or no active admin would be left", detail=LAST_ADMIN)
def update_user(data, user_id):
    """Update a user (admin); password change or deactivation ends their sessions"""
    return admin.update_user(user_id, data)


@blp.route(f"/{USER_ID}", methods=["DELETE"])
@admin_required
@blp.response(204)
@blp.problem(404, "No such user", detail="User not found")
@blp.problem(409, "No active admin would be left", detail=LAST_ADMIN)
def delete_user(user_id):
    """Delete a user and their sessions (admin)"""
    admin.delete_user(user_id)


@blp.route(f"/{USER_ID}/sessions", methods=["DELETE"])
@admin_required
@blp.response(200, SessionsRevokedSchema, example=ex.SESSIONS_REVOKED)
@blp.problem(404, "No such user", detail="User not found")
def revoke_user_sessions(user_id):
    """End every session of a user (admin)"""
    count = admin.revoke_user_sessions(user_id)
    return {"message": "Sessions revoked", "sessions_revoked": count}
