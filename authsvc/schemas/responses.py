"""Shapes many views answer with: a message, problem+json, health."""

from marshmallow import Schema, fields

from .fields import Text


class MessageSchema(Schema):
    message = Text(required=True)


class SessionsRevokedSchema(MessageSchema):
    sessions_revoked = fields.Integer(required=True)


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
