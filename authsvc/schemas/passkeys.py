"""Passkey (WebAuthn) ceremonies and the user's list of passkeys."""

from marshmallow import Schema, fields, validate

from .fields import StrictSchema, Text

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
