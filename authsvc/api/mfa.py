"""Blueprint `mfa`: TOTP enrolment, the second step of login, recovery codes, admin reset."""

from flask import request
from flask_jwt_extended import current_user

from .. import accounts, metrics, mfa, mfa_login
from ..errors import SecondFactorRejected
from ..jwt_callbacks import caller_for_update, current_session_id
from ..schemas.accounts import TokenPairSchema
from ..schemas.mfa import (
    EnrolmentSchema,
    EnrolSchema,
    MfaCodeSchema,
    MfaDisableSchema,
    MfaStatusSchema,
    MfaVerifySchema,
    RecoveryCodesSchema,
)
from . import API_PREFIX, Blueprint, admin_required, authenticated, client
from . import examples as ex
from .ratelimits import address_key, caller_key, mfa_account_key

blp = Blueprint(
    "mfa",
    __name__,
    url_prefix=API_PREFIX,
    description="Multi-factor authentication: TOTP, recovery codes, the second step of login",
)

NOT_ON = "MFA is not on"


# A current_password is a password guess: limited like a login, per account and
# per address, for anyone holding a stolen access token (as PATCH /users/me).
def password_guesses(view):
    return blp.rate_limit(
        "LOGIN_RATE_LIMIT", address_key, caller_key, documented_as="CURRENT_PASSWORD_GUESSES"
    )(view)


@blp.route("/auth/mfa", methods=["GET"])
@authenticated
@blp.response(200, MfaStatusSchema, example=ex.MFA_STATUS)
def get_status():
    """The caller's MFA: on or pending, TOTP locked, recovery codes left"""
    return mfa.status(current_user.id)


@blp.route("/auth/mfa/totp", methods=["POST"])
@authenticated
@password_guesses
@blp.arguments(
    EnrolSchema,
    example=ex.MFA_ENROL,
    bad_request="The body is not valid JSON, or current_password is wrong",
)
@blp.response(201, EnrolmentSchema, example=ex.MFA_ENROLMENT)
@blp.problem(409, "MFA is already on", detail="MFA is already on")
def enrol(data):
    """Start TOTP enrolment: the secret, its otpauth:// URI and a QR code (SVG)"""
    return mfa.enrol(caller_for_update(), data["current_password"])


@blp.route("/auth/mfa/totp/confirm", methods=["POST"])
@authenticated
@blp.arguments(
    MfaCodeSchema,
    example=ex.MFA_CODE,
    bad_request="The body is not valid JSON, or the code is wrong",
)
@blp.response(200, RecoveryCodesSchema, example=ex.RECOVERY_CODES)
@blp.problem(409, "Nothing pending, or MFA already on", detail="No pending TOTP factor to confirm")
def confirm(data):
    """Turn MFA on with a code from the app; returns 10 recovery codes, once"""
    codes = mfa.confirm(caller_for_update(), data["code"], current_session_id())
    return {"recovery_codes": codes}


@blp.route("/auth/mfa/totp", methods=["DELETE"])
@authenticated
@password_guesses
@blp.arguments(
    MfaDisableSchema,
    example=ex.MFA_DISABLE,
    bad_request="The body is not valid JSON, or the password or code is wrong",
)
@blp.response(204)
@blp.problem(409, NOT_ON, detail=NOT_ON)
def disable(data):
    """Turn MFA off (password and a TOTP or recovery code); other sessions end"""
    mfa.disable(caller_for_update(), data["current_password"], data["code"], current_session_id())


@blp.route("/auth/mfa/recovery-codes", methods=["POST"])
@authenticated
@blp.arguments(
    MfaCodeSchema,
    example=ex.MFA_CODE,
    bad_request="The body is not valid JSON, or the TOTP code is wrong",
)
@blp.response(200, RecoveryCodesSchema, example=ex.RECOVERY_CODES)
@blp.problem(409, NOT_ON, detail=NOT_ON)
def regenerate_recovery_codes(data):
    """Replace the recovery codes (needs a TOTP code); the old ones stop working"""
    return {"recovery_codes": mfa.regenerate_recovery_codes(caller_for_update(), data["code"])}


@blp.route("/auth/mfa/verify", methods=["POST"])
@blp.rate_limit("MFA_VERIFY_RATE_LIMIT", address_key, mfa_account_key)
@blp.arguments(MfaVerifySchema, example=ex.MFA_VERIFY)
@blp.response(200, TokenPairSchema, example=ex.TOKEN_PAIR)
@blp.problem(
    401,
    "Wrong or replayed code, or a dead mfa_token (one message); or TOTP locked",
    detail=SecondFactorRejected.detail,
)
def verify(data):
    """Second step of login: `mfa_token` and a TOTP or recovery code for a token pair"""
    try:
        verified = mfa_login.verify(data["mfa_token"], data["code"], client())
    except SecondFactorRejected as rejected:
        metrics.count_mfa_verification(rejected.reason)
        raise
    metrics.count_mfa_verification("success")
    return verified.pair


@blp.after_request
def count_rate_limited(response):
    """A verification the rate limiter refused never reached the view: count it here."""
    if request.endpoint == "mfa.verify" and response.status_code == 429:
        metrics.count_mfa_verification("rate_limited")
    return response


@blp.route("/users/<int(signed=True):user_id>/mfa", methods=["DELETE"])
@admin_required
@blp.response(204)
@blp.problem(404, "No such user", detail="User not found")
@blp.problem(409, NOT_ON, detail=NOT_ON)
def admin_reset(user_id):
    """Remove a user's MFA (admin): factor and recovery codes gone, every session ends"""
    mfa.admin_reset(accounts.get_user(user_id))
