"""Marshmallow schemas at the HTTP boundary; unknown fields are refused."""

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate, validates_schema
from marshmallow.experimental.context import Context

from . import passwords
from .errors import BadRequest

USERNAME_CHARACTERS = "[A-Za-z0-9_.\\-]{3,32}"
USERNAME = validate.Regexp(
    f"^{USERNAME_CHARACTERS}\\Z",
    error="Username must be 3 to 32 characters: ASCII letters, digits, '_', '.' or '-'.",
)
# The same rule for the spec: JSON Schema patterns are ECMA regexes, with no `\Z`.
USERNAME_METADATA = {"pattern": f"^{USERNAME_CHARACTERS}$", "example": "ada"}
# Passwords are length-checked after NFKC normalization (see passwords.py); this
# bound only keeps absurd bodies away from the normalizer.
PASSWORD_FIELD = {"validate": validate.Length(max=1024), "load_only": True}
# A password being set: the spec states the policy (its length bounds after
# NFKC, not common, not containing the username or email); passwords.py enforces it.
NEW_PASSWORD_METADATA = {
    "minLength": passwords.MIN_LENGTH,
    "maxLength": passwords.MAX_LENGTH,
    "description": f"{passwords.MIN_LENGTH} to {passwords.MAX_LENGTH} characters after NFKC "
    "normalization; common passwords and passwords containing the username or the "
    "email's local part are refused (422)",
}


class Text(fields.String):
    """A string any database, bcrypt and log can take.

    No NUL characters (PostgreSQL cannot store or compare them), and no lone
    surrogates (JSON can escape half a pair, `"\\ud800"`; UTF-8 cannot encode it).
    """

    default_error_messages = {
        "nul": "Must not contain NUL characters.",
        "surrogate": "Must be valid Unicode text (no lone surrogates).",
    }

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in value:
            raise self.make_error("nul")
        if not is_utf8_encodable(value):
            raise self.make_error("surrogate")
        return value


def is_utf8_encodable(value):
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Email(fields.Email, Text):
    """An email address, lower-cased before its length is checked (it is stored so;
    lower-casing can lengthen it: "İ" becomes two characters)."""

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).lower()


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE
        ordered = True


def email_field(**kwargs):
    return Email(
        validate=validate.Length(max=254), metadata={"example": "ada@example.com"}, **kwargs
    )


def full_name_field():
    return Text(
        allow_none=True, validate=validate.Length(max=100), metadata={"example": "Ada Lovelace"}
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


class MessageSchema(Schema):
    message = Text(required=True)


class SessionsRevokedSchema(MessageSchema):
    sessions_revoked = fields.Integer(required=True)


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


class UserQuerySchema(StrictSchema):
    skip = fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**31 - 1))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    q = Text(
        validate=validate.Length(max=254),
        metadata={"description": "Substring of email, username or full name"},
    )
    is_active = fields.Boolean()
    is_admin = fields.Boolean()


CODE_FIELD = {
    "required": True,
    "validate": validate.Length(min=1, max=64),
    "load_only": True,
    "metadata": {
        "description": "A 6-digit TOTP code, or a recovery code (`XXXX-XXXX-XXXX-XXXX`)",
        "example": "492039",
    },
}


class EnrolSchema(StrictSchema):
    current_password = Text(required=True, **PASSWORD_FIELD)


class EnrolmentSchema(Schema):
    secret = Text(required=True, metadata={"description": "Base32; shown this once"})
    otpauth_uri = Text(required=True, metadata={"description": "For authenticator apps"})
    qr_svg = Text(required=True, metadata={"description": "The URI as a QR code (SVG)"})


class MfaCodeSchema(StrictSchema):
    code = Text(**CODE_FIELD)


class MfaDisableSchema(MfaCodeSchema):
    current_password = Text(required=True, **PASSWORD_FIELD)


class MfaVerifySchema(MfaCodeSchema):
    mfa_token = Text(
        required=True,
        validate=validate.Length(min=1, max=256),
        load_only=True,
        metadata={"description": "From the 403 `urn:authsvc:problem:mfa-required` of login"},
    )


class RecoveryCodesSchema(Schema):
    recovery_codes = fields.List(
        Text(), required=True, metadata={"description": "Each works once; shown this once"}
    )


class MfaStatusSchema(Schema):
    mfa_enabled = fields.Boolean(required=True)
    pending = fields.Boolean(required=True, metadata={"description": "Enrolled, not yet confirmed"})
    totp_locked = fields.Boolean(
        required=True, metadata={"description": "Too many wrong codes: use a recovery code"}
    )
    recovery_codes_remaining = fields.Integer(required=True)


class ProblemSchema(Schema):
    """An error, as application/problem+json (RFC 9457)."""

    type = Text(required=True, metadata={"example": "about:blank"})
    title = Text(required=True, metadata={"example": "Unauthorized"})
    status = fields.Integer(required=True, metadata={"example": 401})
    detail = Text(metadata={"example": "Token has been revoked"})
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={
            "description": "Validation errors (422 only): messages by body field or query "
            "parameter name, never nested",
            "example": {"password": ["Password is too common."]},
        },
    )
    mfa_token = Text(
        metadata={
            "description": "`urn:authsvc:problem:mfa-required` only: for "
            "`POST /api/v1/auth/mfa/verify` (single use, 5 minutes, 5 wrong codes)"
        }
    )
    methods = fields.List(
        Text(),
        metadata={
            "description": "`urn:authsvc:problem:mfa-required` only: the second factors "
            "the account can use",
            "example": ["totp", "recovery_code"],
        },
    )


class HealthSchema(Schema):
    status = Text(required=True, metadata={"example": "ok"})
    database = Text(required=True, metadata={"example": "ok"})


PASSKEY_NAME = {
    "validate": validate.Length(min=1, max=64),
    "metadata": {"description": "A name for the user's list", "example": "Laptop"},
}
CREDENTIAL_METADATA = {
    "description": "What the browser's `PublicKeyCredential.toJSON()` returns "
    "(WebAuthn Level 3 JSON form, binary members base64url)"
}


class PasskeyOptionsSchema(StrictSchema):
    name = Text(**PASSKEY_NAME)


class PasskeyRegisterSchema(StrictSchema):
    credential = fields.Dict(
        required=True,
        metadata={**CREDENTIAL_METADATA, "title": "RegistrationResponseJSON"},
    )
    name = Text(**PASSKEY_NAME)


class PasskeyLoginOptionsSchema(StrictSchema):
    username = Text(
        validate=validate.Length(min=1, max=254),
        metadata={
            "description": "Username or email; leave out for a discoverable passkey",
            "example": "ada",
        },
    )


class PasskeyLoginSchema(StrictSchema):
    credential = fields.Dict(
        required=True,
        metadata={**CREDENTIAL_METADATA, "title": "AuthenticationResponseJSON"},
    )


class PasskeySchema(Schema):
    id = fields.Integer(required=True)
    name = Text(required=True)
    created_at = fields.AwareDateTime(required=True)
    last_used_at = fields.AwareDateTime(allow_none=True)
    transports = fields.List(Text(), metadata={"example": ["internal", "hybrid"]})
    backup_eligible = fields.Boolean(metadata={"description": "A synced (multi-device) passkey"})
    backed_up = fields.Boolean()


TOKEN_MISSING = "The token parameter is required"


class TokenFormSchema(Schema):
    """RFC 7662 / RFC 7009 form: `token`, optional `token_type_hint`.

    Other parameters are ignored, as those RFCs allow extensions to send them.
    A missing `token` is 400 (RFC 7009 §2.1, RFC 7662 §2.1: `invalid_request`),
    not the 422 of other bodies; the view refuses an empty one the same way.
    """

    class Meta:
        unknown = EXCLUDE

    token = fields.String(
        required=True, validate=validate.Length(min=1), metadata={"description": "The token"}
    )
    token_type_hint = fields.String(
        load_default=None,
        metadata={"description": "`access_token` or `refresh_token`; only a hint"},
    )

    def handle_error(self, error, data, **kwargs):
        raise BadRequest(TOKEN_MISSING)


class IntrospectionSchema(Schema):
    """RFC 7662's answer: `active` alone when the token is not live."""

    active = fields.Boolean(required=True)
    sub = fields.String()
    sid = fields.String()
    exp = fields.Integer()
    iat = fields.Integer()
    iss = fields.String()
    aud = fields.String()
    jti = fields.String()
    token_type = fields.String(metadata={"enum": ["access_token", "refresh_token"]})
    username = fields.String()
    amr = fields.List(fields.String())


class JwkSchema(Schema):
    kty = fields.String(required=True)
    kid = fields.String(required=True)
    alg = fields.String(required=True)
    use = fields.String(required=True)
    crv = fields.String()
    x = fields.String()
    y = fields.String()
    n = fields.String()
    e = fields.String()


class JwksSchema(Schema):
    keys = fields.List(fields.Nested(JwkSchema), required=True)


class AuthorizationServerMetadataSchema(Schema):
    """RFC 8414 metadata."""

    issuer = fields.String(required=True)
    jwks_uri = fields.String(required=True)
    token_endpoint = fields.String(required=True)
    introspection_endpoint = fields.String(required=True)
    revocation_endpoint = fields.String(required=True)
    grant_types_supported = fields.List(fields.String(), required=True)
    response_types_supported = fields.List(fields.String(), required=True)
    token_endpoint_auth_methods_supported = fields.List(fields.String())
    introspection_endpoint_auth_methods_supported = fields.List(fields.String())
    revocation_endpoint_auth_methods_supported = fields.List(fields.String())
    service_documentation = fields.String()
