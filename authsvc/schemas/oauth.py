"""What other services use: introspection, revocation, the JWKS, RFC 8414 metadata."""

from marshmallow import EXCLUDE, Schema, fields, validate

from ..errors import BadRequest

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
