"""Blueprint `users`: one's own profile, and user administration."""

from flask import g
from flask_jwt_extended import current_user
from marshmallow import RAISE

from .. import accounts
from ..errors import Forbidden
from ..schemas import (
    AdminUserCreateSchema,
    AdminUserUpdateSchema,
    ProfileUpdateSchema,
    SessionsRevokedSchema,
    UserQuerySchema,
    UserSchema,
)
from . import API_PREFIX, Blueprint, admin_required, authenticated

blp = Blueprint(
    "users",
    __name__,
    url_prefix=f"{API_PREFIX}/users",
    description="Your profile, and user administration (admins)",
)

USER_ID = "<int(max=2147483647):user_id>"


@blp.route("/me", methods=["GET"])
@authenticated
@blp.response(200, UserSchema)
@blp.alt_response(401, description="Missing or invalid access token")
def get_me():
    """Return the calling user"""
    return current_user


@blp.route("/me", methods=["PUT", "PATCH"])
@authenticated
@blp.arguments(ProfileUpdateSchema)
@blp.response(200, UserSchema)
@blp.alt_response(400, description="Wrong current password")
@blp.alt_response(401, description="Missing or invalid access token")
@blp.alt_response(409, description="Email or username taken")
def update_me(data):
    """Change the calling user's profile; a new password ends the other sessions"""
    return accounts.update_profile(current_user, data, current_sid=g.session_id)


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
)
@blp.alt_response(401, description="Missing or invalid access token")
@blp.alt_response(403, description="Not an admin")
def list_users(query):
    """List users ordered by id (admin)"""
    page, total = accounts.list_users(**query)
    return page, 200, {"X-Total-Count": str(total)}


@blp.route("", methods=["POST"])
@admin_required
@blp.arguments(AdminUserCreateSchema)
@blp.response(201, UserSchema)
@blp.alt_response(401, description="Missing or invalid access token")
@blp.alt_response(403, description="Not an admin")
@blp.alt_response(409, description="Email or username taken")
def create_user(data):
    """Create a user (admin)"""
    return accounts.create_user(data)


@blp.route(f"/{USER_ID}", methods=["GET"])
@authenticated
@blp.response(200, UserSchema)
@blp.alt_response(401, description="Missing or invalid access token")
@blp.alt_response(403, description="Another user's account, and not an admin")
@blp.alt_response(404, description="No such user (admins only)")
def get_user(user_id):
    """Return a user (admin, or the user themself)"""
    if not current_user.is_admin and current_user.id != user_id:
        raise Forbidden("Admin privileges required")
    return accounts.get_user(user_id)


@blp.route(f"/{USER_ID}", methods=["PUT", "PATCH"])
@admin_required
@blp.arguments(AdminUserUpdateSchema)
@blp.response(200, UserSchema)
@blp.alt_response(401, description="Missing or invalid access token")
@blp.alt_response(403, description="Not an admin")
@blp.alt_response(404, description="No such user")
@blp.alt_response(409, description="Taken, or it would leave no active admin")
def update_user(data, user_id):
    """Update a user (admin); password change or deactivation ends their sessions"""
    return accounts.update_user(user_id, data)


@blp.route(f"/{USER_ID}", methods=["DELETE"])
@admin_required
@blp.response(204)
@blp.alt_response(401, description="Missing or invalid access token")
@blp.alt_response(403, description="Not an admin")
@blp.alt_response(404, description="No such user")
@blp.alt_response(409, description="It would leave no active admin")
def delete_user(user_id):
    """Delete a user and their sessions (admin)"""
    accounts.delete_user(user_id)


@blp.route(f"/{USER_ID}/sessions", methods=["DELETE"])
@admin_required
@blp.response(200, SessionsRevokedSchema)
@blp.alt_response(401, description="Missing or invalid access token")
@blp.alt_response(403, description="Not an admin")
@blp.alt_response(404, description="No such user")
def revoke_user_sessions(user_id):
    """End every session of a user (admin)"""
    count = accounts.revoke_user_sessions(user_id)
    return {"message": "Sessions revoked", "sessions_revoked": count}
