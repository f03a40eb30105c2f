"""Blueprint `wellknown`: the public keys (JWKS) and RFC 8414 metadata.

Both are public and cheap: the key set's body and ETag are built once per
keyring reload, so a request costs no query and no serialization.
"""

from flask import Response, current_app, request

from ..keyring import keyring
from ..schemas.oauth import AuthorizationServerMetadataSchema, JwksSchema
from . import API_PREFIX, Blueprint
from . import examples as ex

blp = Blueprint(
    "wellknown",
    __name__,
    url_prefix="/.well-known",
    description="What services that verify authsvc's tokens need: keys and metadata",
)

# Resource servers may cache both for five minutes (the rotation runbook waits that long).
PUBLIC_CACHE = "public, max-age=300"


@blp.route("/jwks.json", methods=["GET"])
@blp.response(
    200,
    JwksSchema,
    headers={"ETag": {"schema": {"type": "string"}}},
    example=ex.JWKS,
)
@blp.alt_response(304, description="Not modified (`If-None-Match` names the current ETag)")
def jwks():
    """The public keys that verify access tokens (next, current and previous)"""
    body, etag = keyring().jwks()
    headers = {"Cache-Control": PUBLIC_CACHE, "ETag": etag}
    if etag in request.if_none_match:
        return Response(status=304, headers=headers)
    return Response(body, mimetype="application/json", headers=headers)


@blp.route("/oauth-authorization-server", methods=["GET"])
@blp.response(200, AuthorizationServerMetadataSchema, example=ex.METADATA)
def metadata():
    """RFC 8414 authorization server metadata"""
    issuer = current_app.config["JWT_ISSUER"].rstrip("/")
    document = {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "token_endpoint": f"{issuer}{API_PREFIX}/auth/login",
        "introspection_endpoint": f"{issuer}/oauth/introspect",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "grant_types_supported": ["password", "refresh_token"],
        # No authorization endpoint: no response type is supported.
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "service_documentation": f"{issuer}/docs",
    }
    return document, 200, {"Cache-Control": PUBLIC_CACHE}
