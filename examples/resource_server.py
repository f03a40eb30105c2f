"""A resource server that trusts authsvc's access tokens.

Run it: `flask --app examples.resource_server run --port 5001`.

Two ways to check a token, side by side:

- GET /orders verifies offline, with authsvc's published keys (JWKS): no call to
  authsvc per request, but a token of a session that was logged out keeps
  working until it expires (15 minutes at most by default).
- GET /payments asks authsvc (introspection, RFC 7662): one call per request,
  and a logout, a deactivated user or a withdrawn key is seen at once.

When authsvc cannot answer (down, or its database is: a 503), /payments
answers 503 with `Retry-After`, never a 500; /orders keeps working from the
cached key set as long as the token's key is in it. Errors are
problem+json, as authsvc's own.

Settings (environment): AUTHSVC_ISSUER (authsvc's JWT_ISSUER, e.g.
http://127.0.0.1:8000), AUTHSVC_AUDIENCE (its JWT_AUDIENCE, default authsvc),
and for introspection AUTHSVC_CLIENT_ID / AUTHSVC_CLIENT_SECRET from
`flask clients create NAME`.
"""

import base64
import json
import os
import urllib.error
import urllib.parse
import urllib.request

import jwt
from flask import Flask, abort, request
from werkzeug.exceptions import HTTPException

ISSUER = os.environ.get("AUTHSVC_ISSUER", "http://127.0.0.1:8000").rstrip("/")
AUDIENCE = os.environ.get("AUTHSVC_AUDIENCE", "authsvc")
CLIENT = (os.environ.get("AUTHSVC_CLIENT_ID", ""), os.environ.get("AUTHSVC_CLIENT_SECRET", ""))

if urllib.parse.urlsplit(ISSUER).scheme not in ("http", "https"):
    raise RuntimeError("AUTHSVC_ISSUER must be an http(s) URL")
# The schemes were checked: urlopen reaches authsvc's own URLs only.
with urllib.request.urlopen(f"{ISSUER}/.well-known/oauth-authorization-server", timeout=5) as r:  # noqa: S310
    METADATA = json.load(r)
if METADATA["issuer"] != ISSUER or not all(
    METADATA[name].startswith(ISSUER + "/") for name in ("jwks_uri", "introspection_endpoint")
):
    raise RuntimeError("AUTHSVC_ISSUER is not the issuer authsvc announces")

# The key set is cached for 5 minutes (authsvc's max-age); a token naming a kid
# the cache lacks refetches it, at most once per 10 s whatever the traffic.
# (Not cache_keys=True: that keeps every key it ever saw, revoked ones too.)
JWKS = jwt.PyJWKClient(METADATA["jwks_uri"], lifespan=300, cooldown_duration=10, timeout=5)

RETRY_AFTER = "5"  # seconds a client waits before asking again when authsvc is unavailable

app = Flask(__name__)


@app.errorhandler(HTTPException)
def problem(error):
    """Every error as problem+json (RFC 9457), like authsvc's."""
    body = {"type": "about:blank", "title": error.name, "status": error.code}
    headers = {}
    if error.code == 401:
        headers["WWW-Authenticate"] = "Bearer"
    elif error.code == 503:
        body["detail"] = "authsvc cannot check the token right now"
        headers["Retry-After"] = RETRY_AFTER
    return body, error.code, {**headers, "Content-Type": "application/problem+json"}


def bearer_token():
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        abort(401)
    return token.strip()


def verify_offline(token):
    """The claims of an authsvc access token, verified with the published keys."""
    try:
        if jwt.get_unverified_header(token).get("typ") != "at+jwt":
            abort(401)  # a refresh token (HS256, no kid) never gets this far anyway
        key = JWKS.get_signing_key_from_jwt(token)  # by kid, from the cached key set
        return jwt.decode(
            token, key, algorithms=[key.algorithm_name], issuer=ISSUER, audience=AUDIENCE
        )
    except jwt.PyJWKClientConnectionError:
        abort(503)  # an unknown kid, and the key set cannot be fetched now
    except jwt.PyJWTError:
        abort(401)


def introspect(token):
    """authsvc's answer on `token`: {"active": false} for anything not live.

    No answer (authsvc or its database down: a 5xx, a refused or timed-out
    connection) is a 503: the token may well be live, so it is no 401.
    """
    basic = base64.b64encode(":".join(CLIENT).encode()).decode()
    call = urllib.request.Request(  # noqa: S310 (authsvc's endpoint, checked at start)
        METADATA["introspection_endpoint"],
        data=urllib.parse.urlencode({"token": token, "token_type_hint": "access_token"}).encode(),
        headers={"Authorization": f"Basic {basic}"},
    )
    try:
        with urllib.request.urlopen(call, timeout=5) as response:  # noqa: S310
            return json.load(response)
    except urllib.error.HTTPError as error:
        if error.code < 500:
            raise  # authsvc refused our client credentials: a configuration error
        abort(503)
    except OSError:  # no connection, or no answer in time
        abort(503)


@app.get("/orders")
def orders():
    claims = verify_offline(bearer_token())
    return {"user": claims["sub"], "orders": [], "checked": "offline"}


@app.get("/payments")
def payments():
    answer = introspect(bearer_token())
    if not answer.get("active") or answer.get("token_type") != "access_token":
        abort(401)
    return {"user": answer["sub"], "payments": [], "checked": "introspection"}
