"""Blueprint `email_flows`: forgotten password, reset, email verification."""

from .. import email_flows
from ..errors import InvalidEmailToken, SecondFactorFailed
from ..extensions import limiter
from ..jwt_callbacks import caller_for_update
from ..schemas.accounts import (
    EmailTokenSchema,
    ForgotPasswordSchema,
    ResetPasswordSchema,
    UserSchema,
)
from ..schemas.responses import MessageSchema
from . import API_PREFIX, Blueprint, authenticated
from . import examples as ex
from .ratelimits import address_key, caller_key, limit_from_config, target_email_key

blp = Blueprint(
    "email_flows",
    __name__,
    url_prefix=f"{API_PREFIX}/auth",
    description="Forgotten password, reset by mail, email verification",
)

FORGOT_ANSWER = "If an active account has this email address, a reset link is on its way."
DEAD_TOKEN = "Invalid, expired, used or voided token (one answer for all)"


# The per-target limit shares the documented 429 of EMAIL_SEND_RATE_LIMIT.
PER_TARGET = limit_from_config("EMAIL_TARGET_RATE_LIMIT")


@blp.route("/password/forgot", methods=["POST"])
@blp.rate_limit("EMAIL_SEND_RATE_LIMIT", address_key)
@limiter.limit(PER_TARGET, key_func=target_email_key)
@blp.arguments(ForgotPasswordSchema, example={"email": "ada@example.com"})
@blp.response(202, MessageSchema, example={"message": FORGOT_ANSWER})
def forgot_password(data):
    """Ask for a password reset mail (the same answer for every address)"""
    email_flows.request_password_reset(data["email"])
    return {"message": FORGOT_ANSWER}


@blp.route("/password/reset", methods=["POST"])
@blp.rate_limit("EMAIL_TOKEN_RATE_LIMIT", address_key)
@blp.arguments(
    ResetPasswordSchema, example={"token": ex.EMAIL_TOKEN, "password": "difference-engine-1822"}
)
@blp.response(200, MessageSchema, example={"message": "Password reset; please log in"})
@blp.problem(400, DEAD_TOKEN, detail=InvalidEmailToken.detail)
@blp.problem(
    403,
    "The account has MFA and `mfa_code` is missing or wrong (the token stays usable)",
    detail=SecondFactorFailed.detail,
)
def reset_password(data):
    """Set a new password with the token from a reset mail; every session ends"""
    email_flows.reset_password(data["token"], data["password"], data.get("mfa_code"))
    return {"message": "Password reset; please log in"}


@blp.route("/email/verify", methods=["POST"])
@blp.rate_limit("EMAIL_TOKEN_RATE_LIMIT", address_key)
@blp.arguments(EmailTokenSchema, example={"token": ex.EMAIL_TOKEN})
@blp.response(200, UserSchema, example={**ex.USER, "email_verified": True})
@blp.problem(400, DEAD_TOKEN, detail=InvalidEmailToken.detail)
def verify_email(data):
    """Verify an email address with the token from a verification mail"""
    return email_flows.verify_email(data["token"])


@blp.route("/email/verify/resend", methods=["POST"])
@authenticated
@blp.rate_limit("EMAIL_SEND_RATE_LIMIT", address_key)
@limiter.limit(PER_TARGET, key_func=caller_key)
@blp.response(202, MessageSchema, example={"message": "Verification mail sent"})
def resend_verification():
    """Send a new verification mail (none when the address is verified already)"""
    if email_flows.resend_verification(caller_for_update()):
        return {"message": "Verification mail sent"}
    return {"message": "Email address is already verified"}
