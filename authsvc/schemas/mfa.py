"""TOTP enrolment, second steps, recovery codes."""

from marshmallow import Schema, fields, validate

from .fields import PASSWORD_FIELD, StrictSchema, Text

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
