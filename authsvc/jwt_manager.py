"""flask-jwt-extended's JWTManager, verifying a token with one decode instead of three.

Upstream decodes every token twice without verifying it (claims, then header)
so that a `decode_key_loader` may pick the key from them, then a third time to
verify it. pyjwt checks each base64 character of every segment in Python, so
those two extra decodes cost ~70 µs, a sixth of an authenticated request.
authsvc signs with one key, so it verifies first and checks the claims'
shapes afterwards (`claims_check`): nothing reads a claim before its
signature is known good.

This overrides a private method: it is reviewed against the flask-jwt-extended
version pinned in requirements.txt, and tests/security/test_jwt_manager.py
fails on any other version until it is reviewed again.
"""

import jwt as pyjwt
from flask_jwt_extended import JWTManager as _JWTManager
from flask_jwt_extended.config import config

REVIEWED_VERSION = "4.7.4"


class JWTManager(_JWTManager):
    def __init__(self, app=None, add_context_processor=False):
        self._claims_check = None
        super().__init__(app, add_context_processor)

    def init_app(self, app, add_context_processor=False):
        super().init_app(app, add_context_processor)
        locations = app.config["JWT_TOKEN_LOCATION"]
        locations = [locations] if isinstance(locations, str) else list(locations)
        if locations != ["headers"]:
            # Cookies would need the CSRF check this decode does not do.
            raise RuntimeError("authsvc reads tokens from the Authorization header only")

    def claims_check(self, callback):
        """Register `callback(claims)`: it raises JWTDecodeError for claims authsvc never issues.

        It runs on every decoded token, after its signature, expiry, issuer
        and audience have been verified.
        """
        self._claims_check = callback
        return callback

    def decode_key_loader(self, callback):
        raise NotImplementedError("authsvc verifies with config's one key; see claims_check")

    def _decode_jwt_from_config(self, encoded_token, csrf_value=None, allow_expired=False):
        """Upstream's checks (signature, algorithm, exp/nbf/iat, iss, aud, sub) in one decode."""
        if self._claims_check is None:  # fail closed: no token passes unchecked
            raise RuntimeError("no claims_check is registered")
        options = {
            "verify_aud": config.decode_audience is not None,
            "verify_sub": config.verify_sub,
        }
        if allow_expired:
            options["verify_exp"] = False
        try:
            claims = pyjwt.decode(
                encoded_token,
                config.decode_key,
                algorithms=config.decode_algorithms,
                audience=config.decode_audience,
                issuer=config.decode_issuer,
                leeway=config.leeway,
                options=options,
            )
        except pyjwt.ExpiredSignatureError as error:
            # What upstream attaches for the expired-token callback.
            error.jwt_header = pyjwt.get_unverified_header(encoded_token)
            error.jwt_data = self._decode_jwt_from_config(encoded_token, allow_expired=True)
            raise
        # The claims as signed: upstream fills in `type` and `jti` when absent,
        # which must be refused instead. (`csrf_value` is always None: tokens
        # come from headers only, as `init_app` makes sure.)
        self._claims_check(claims)
        claims.setdefault("fresh", False)
        return claims
