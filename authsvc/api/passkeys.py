"""Blueprint `passkeys`: register, list and delete passkeys; log in with one."""

from flask_jwt_extended import current_user

from .. import passkeys
from ..errors import NotFound
from ..schemas.accounts import TokenPairSchema
from ..schemas.passkeys import (
    PasskeyLoginOptionsSchema,
    PasskeyLoginSchema,
    PasskeyOptionsSchema,
    PasskeyRegisterSchema,
    PasskeySchema,
)
from . import API_PREFIX, Blueprint, authenticated, client
from . import examples as ex
from .ratelimits import address_key, caller_key

blp = Blueprint(
    "passkeys",
    __name__,
    url_prefix=f"{API_PREFIX}/auth/passkeys",
    description="Passkeys (WebAuthn): register, list, delete, and log in with one",
)

MAX_PASSKEY_ID = 2**31 - 1  # passkeys.id is a 32-bit integer on PostgreSQL
LOGIN_FAILED = (
    "Unknown credential, bad signature, replayed or expired challenge, wrong origin or RP id, "
    "a counter gone backwards, or no user verification (one message)"
)
REGISTRATION_FAILED = (
    "Malformed credential; unknown, expired or used challenge; wrong origin or RP id; "
    "no user verification; an attestation that does not verify; or an unusable public key"
)


# Every options call stores a challenge and every registration verifies an
# attestation: limited per account (a stolen token from many addresses) and per
# address (many tokens from one), each endpoint with a budget of its own.
def registration_limit(view):
    return blp.rate_limit("PASSKEY_REGISTER_RATE_LIMIT", address_key, caller_key)(view)


@blp.route("/register/options", methods=["POST"])
@authenticated
@registration_limit
@blp.arguments(PasskeyOptionsSchema, required=False, example=ex.PASSKEY_NAME)
@blp.response(200, example=ex.PASSKEY_CREATION_OPTIONS)
def registration_options(data):
    """Creation options for navigator.credentials.create() (a challenge valid 5 minutes)"""
    return passkeys.registration_options(current_user, (data or {}).get("name"))


@blp.route("/register", methods=["POST"])
@authenticated
@registration_limit
@blp.arguments(
    PasskeyRegisterSchema, example=ex.PASSKEY_REGISTRATION, bad_request=REGISTRATION_FAILED
)
@blp.response(201, PasskeySchema, example=ex.PASSKEY)
@blp.problem(
    409, "This credential is already registered", detail="This passkey is already registered"
)
def register(data):
    """Register the passkey the browser created (its challenge is spent)"""
    return passkeys.register(current_user, data["credential"], data.get("name"))


@blp.route("", methods=["GET"])
@authenticated
@blp.response(200, PasskeySchema(many=True), example=[ex.PASSKEY])
def list_passkeys():
    """List the calling user's passkeys, oldest first"""
    return passkeys.list_passkeys(current_user.id)


@blp.route("/<int:passkey_id>", methods=["DELETE"])
@authenticated
@blp.response(204)
@blp.problem(404, "Not one of the caller's passkeys", detail="Passkey not found")
def delete_passkey(passkey_id):
    """Delete one of the calling user's passkeys (no session ends)"""
    if passkey_id > MAX_PASSKEY_ID or not passkeys.delete_passkey(current_user.id, passkey_id):
        raise NotFound("Passkey not found")


@blp.route("/login/options", methods=["POST"])
@blp.rate_limit("PASSKEY_LOGIN_RATE_LIMIT", address_key)
@blp.arguments(PasskeyLoginOptionsSchema, required=False, example={"username": "ada"})
@blp.response(200, example=ex.PASSKEY_REQUEST_OPTIONS)
def login_options(data):
    """Request options for navigator.credentials.get() (discoverable passkeys; a username
    binds the challenge to that account)"""
    return passkeys.login_options((data or {}).get("username"))


@blp.route("/login", methods=["POST"])
@blp.rate_limit("PASSKEY_LOGIN_RATE_LIMIT", address_key)
@blp.arguments(PasskeyLoginSchema, example=ex.PASSKEY_ASSERTION)
@blp.response(200, TokenPairSchema, example=ex.TOKEN_PAIR)
@blp.problem(401, LOGIN_FAILED, detail=passkeys.PasskeyLoginFailed.detail)
@blp.problem(
    403,
    "Account disabled; or, with EMAIL_VERIFICATION_REQUIRED, the email is not verified: "
    "`type` `urn:authsvc:problem:email-unverified` (either only said when the passkey verifies)",
    detail="Account is disabled",
)
def login(data):
    """Log in with a passkey: a new session whose tokens carry amr ["hwk", "mfa"]"""
    return passkeys.login(data["credential"], client()).started.tokens
