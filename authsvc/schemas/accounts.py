"""Register, login, tokens and sessions; the user, their profile and its administration;
password reset and email verification."""

from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from marshmallow.experimental.context import Context

from .. import passwords
from .fields import (
    NEW_PASSWORD_METADATA,
    PASSWORD_FIELD,
    USERNAME,
    USERNAME_METADATA,
    StrictSchema,
    Text,
    email_field,
    full_name_field,
)

# The account a body changes, set by the view that loads it (see `NewPasswordSchema`).
AccountContext = Context[dict]


class NewPasswordSchema(StrictSchema):
    """A body that may set a password: the policy's reasons join the other
    fields' errors, so one 422 names every invalid field.

    The policy compares the password with the body's username and email, or,
    where the body leaves one out (or it is invalid), with the current one of
    the account in `AccountContext` (`{"account": ...}`), when a view sets it.
    """

    @validates_schema(skip_on_field_errors=False)
    def check_password_policy(self, data, **kwargs):
        if "password" not in data:
            return
        account = AccountContext.get({}).get("account")
        username = data.get("username") or getattr(account, "username", None)
        email = data.get("email") or getattr(account, "email", None)
        problems = passwords.policy_problems(data["password"], username=username, email=email)
        if problems:
            raise ValidationError(problems, "password")


class RegisterSchema(NewPasswordSchema):
    email = email_field(required=True)
    username = Text(required=True, validate=USERNAME, metadata=USERNAME_METADATA)
    password = Text(
        required=True,
        **PASSWORD_FIELD,
        metadata={**NEW_PASSWORD_METADATA, "example": "correct-horse-battery"},
    )
    full_name = full_name_field()


class LoginSchema(StrictSchema):
    username = Text(
        required=True,
        validate=validate.Length(min=1, max=254),
        metadata={"description": "Username or email", "example": "ada"},
    )
    password = Text(required=True, **PASSWORD_FIELD, metadata={"example": "correct-horse-battery"})
    grant_type = Text(metadata={"description": "OAuth2 password flow: `password`"})
    scope = Text(metadata={"description": "Accepted and ignored"})
    client_id = Text(metadata={"description": "Accepted and ignored"})
    client_secret = Text(load_only=True, metadata={"description": "Accepted and ignored"})


class RefreshTokenSchema(StrictSchema):
    refresh_token = Text(
        validate=validate.Length(max=4096),
        metadata={"description": "The refresh token; or send it as the Bearer token"},
    )


class TokenPairSchema(Schema):
    access_token = Text(required=True)
    refresh_token = Text(required=True)
    token_type = Text(required=True, metadata={"example": "bearer"})
    expires_in = fields.Integer(
        required=True, metadata={"description": "Access token lifetime in seconds", "example": 900}
    )


class SessionSchema(Schema):
    id = Text(required=True, metadata={"description": "The `sid` of its tokens"})
    created_at = fields.AwareDateTime(required=True)
    last_used_at = fields.AwareDateTime(required=True)
    user_agent = Text(allow_none=True)
    ip = Text(allow_none=True)
    expires_at = fields.AwareDateTime(required=True)
    current = fields.Boolean(required=True)


class UserSchema(Schema):
    id = fields.Integer(required=True)
    email = Text(required=True)
    username = Text(required=True)
    full_name = Text(allow_none=True)
    is_active = fields.Boolean(required=True)
    is_admin = fields.Boolean(required=True)
    mfa_enabled = fields.Boolean(required=True)
    email_verified = fields.Boolean(required=True)
    created_at = fields.AwareDateTime(required=True)
    updated_at = fields.AwareDateTime(required=True)


class ProfileUpdateSchema(NewPasswordSchema):
    email = email_field()
    username = Text(validate=USERNAME, metadata=USERNAME_METADATA)
    full_name = full_name_field()
    password = Text(**PASSWORD_FIELD, metadata=NEW_PASSWORD_METADATA)
    current_password = Text(
        **PASSWORD_FIELD,
        metadata={"description": "Required to change `email` or `password`"},
    )


class AdminUserCreateSchema(RegisterSchema):
    is_active = fields.Boolean(load_default=True)
    is_admin = fields.Boolean(load_default=False)
    email_verified = fields.Boolean(load_default=False)


class AdminUserUpdateSchema(NewPasswordSchema):
    email = email_field()
    username = Text(validate=USERNAME, metadata=USERNAME_METADATA)
    full_name = full_name_field()
    password = Text(**PASSWORD_FIELD, metadata=NEW_PASSWORD_METADATA)
    is_active = fields.Boolean()
    is_admin = fields.Boolean()
    email_verified = fields.Boolean()


class UserQuerySchema(StrictSchema):
    skip = fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**31 - 1))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    q = Text(
        validate=validate.Length(max=254),
        metadata={"description": "Substring of email, username or full name"},
    )
    is_active = fields.Boolean()
    is_admin = fields.Boolean()


class ForgotPasswordSchema(StrictSchema):
    email = email_field(required=True)


EMAIL_TOKEN = {"validate": validate.Length(min=1, max=128)}


class ResetPasswordSchema(StrictSchema):
    token = Text(required=True, **EMAIL_TOKEN, metadata={"description": "From the reset mail"})
    password = Text(required=True, **PASSWORD_FIELD, metadata=NEW_PASSWORD_METADATA)
    mfa_code = Text(
        validate=validate.Length(min=1, max=64),
        metadata={"description": "A TOTP or recovery code: required when the account has MFA"},
    )


class EmailTokenSchema(StrictSchema):
    token = Text(required=True, **EMAIL_TOKEN, metadata={"description": "From the mail"})
