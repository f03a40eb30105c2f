"""How tokens are signed and which key verifies one.

Access tokens: the keyring's `current` asymmetric key (ES256, RS256 or EdDSA),
header `kid` and `typ: at+jwt`. Refresh tokens: HS256 with a secret derived
from SECRET_KEY ("refresh-tokens"), never published, so no JWKS verifies one.

Verification trusts nothing in the header but what picks among authsvc's own
keys: the `alg` decides the token's kind (HS256: refresh; the key's own
algorithm: access), the `kid` is looked up in the in-memory keyring only, and
a token naming a key source (`jku`, `jwk`, `x5u`, `x5c`...) is refused
before anything else. The algorithm is pinned to the key found, so neither
`alg: none` nor an HS256 token keyed with a public key's bytes can pass.
"""

import threading
from collections import OrderedDict
from time import time

import jwt as pyjwt
from flask import current_app

from .crypto import derived_secret, derived_secrets
from .keyring import keyring

REFRESH_ALG = "HS256"
REFRESH_PURPOSE = "refresh-tokens"
ACCESS_TYP = "at+jwt"
# Header members that would point a verifier at a key of the sender's choosing.
KEY_SOURCE_HEADERS = frozenset({"jku", "jwk", "x5u", "x5c", "x5t", "x5t#S256", "crit"})
MAX_TOKEN_LENGTH = 8192


class UnacceptableToken(pyjwt.InvalidTokenError):
    """A token whose header names no key of ours, or one it may not use."""


def sign_access(claims):
    key = keyring().signing_key()
    return pyjwt.encode(
        claims, key.private_key, algorithm=key.alg, headers={"kid": key.kid, "typ": ACCESS_TYP}
    )


def sign_refresh(claims):
    return pyjwt.encode(claims, derived_secret(REFRESH_PURPOSE), algorithm=REFRESH_ALG)


def read_header(encoded):
    """The token's header, refused when it could choose its own key."""
    if not isinstance(encoded, str) or len(encoded) > MAX_TOKEN_LENGTH:
        raise UnacceptableToken("Token is too long")
    header = pyjwt.get_unverified_header(encoded)
    if KEY_SOURCE_HEADERS & header.keys():
        raise UnacceptableToken("Token header names a key source")
    return header


def verify(encoded, *, issuer, audience, leeway, allow_expired=False):
    """Verify signature, exp/iat, iss, aud; return (kind, claims). kind: access|refresh."""
    cache = verified_tokens()
    if not allow_expired:
        claims = cache.get(encoded, leeway)
        if claims is not None:
            return "access", claims
    header = read_header(encoded)
    options = {"verify_exp": not allow_expired, "require": ["exp", "iat"]}
    common = {"issuer": issuer, "audience": audience, "leeway": leeway, "options": options}
    alg = header.get("alg")
    if alg == REFRESH_ALG:
        if "kid" in header:
            raise UnacceptableToken("Refresh tokens name no key")
        return "refresh", _verify_refresh(encoded, common)
    key = keyring().verifying_key(header.get("kid"))
    if key is None:
        raise UnacceptableToken("Unknown signing key")
    if alg != key.alg:
        raise UnacceptableToken("Algorithm does not match the key")
    if header.get("typ") != ACCESS_TYP:
        raise UnacceptableToken("Not an access token")
    claims = pyjwt.decode(encoded, key.public_key, algorithms=[key.alg], **common)
    if not allow_expired:
        cache.put(encoded, key.kid, claims)
    return "access", claims


def _verify_refresh(encoded, common):
    """HS256 with the derived secret of SECRET_KEY, or of one of its fallbacks."""
    secrets = derived_secrets(REFRESH_PURPOSE)
    for secret in secrets[:-1]:
        try:
            return pyjwt.decode(encoded, secret, algorithms=[REFRESH_ALG], **common)
        except pyjwt.InvalidSignatureError:
            continue
    return pyjwt.decode(encoded, secrets[-1], algorithms=[REFRESH_ALG], **common)


class VerifiedTokens:
    """A bounded per-worker memory of access tokens whose signature already verified.

    Keyed by the whole encoded token (the exact signed bytes), so only a token
    identical to one verified before is found. A hit still checks expiry, and
    that its key is still in the keyring (a revoked key's tokens are not
    found); the revocation check of the session runs on every request anyway.
    """

    def __init__(self, size=4096):
        self.size = size
        self._entries = OrderedDict()
        self._lock = threading.Lock()

    def get(self, encoded, leeway):
        with self._lock:
            entry = self._entries.get(encoded)
            if entry is not None:
                self._entries.move_to_end(encoded)
        if entry is None:
            return None
        kid, claims = entry
        if claims["exp"] + leeway <= time() or keyring().verifying_key(kid) is None:
            with self._lock:
                self._entries.pop(encoded, None)
            return None
        return dict(claims)

    def put(self, encoded, kid, claims):
        with self._lock:
            self._entries[encoded] = (kid, dict(claims))
            self._entries.move_to_end(encoded)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def __len__(self):
        return len(self._entries)


def init_app(app, size=4096):
    app.extensions["authsvc.verified_tokens"] = VerifiedTokens(size)


def verified_tokens():
    return current_app.extensions["authsvc.verified_tokens"]
