"""Everything authsvc does with a library's private parts, fenced in one place.

Each override below is reviewed against the library version pinned in
requirements.txt (`REVIEWED_VERSIONS`); tests/test_overrides.py fails on any
other version until the override is reviewed again. Wherever a library offers
a documented hook, authsvc uses that instead (flask-smorest's
`Api.handle_http_exception`, webargs' `Parser.load_json`).

1. `JWTManager`: flask-jwt-extended's manager verifying a token with one
   decode instead of three (it replaces the private `_decode_jwt_from_config`).
2. `skip_limiter_app_check`: removes Flask-Limiter's app-wide `before_request`
   hook (the private `_check_request_limit`).
3. `DOCS_TEMPLATES`: the app's templates/ shadow flask-smorest's Swagger UI and
   ReDoc pages, which must keep their names and context variables.
4. `replace_session_teardown`: Flask-SQLAlchemy's teardown (the private
   `_teardown_session`) replaced by one that survives a dropped connection.
"""

import jwt as pyjwt
from flask import current_app
from flask_jwt_extended import JWTManager as _JWTManager
from flask_jwt_extended.config import config
from flask_jwt_extended.exceptions import JWTDecodeError
from sqlalchemy.exc import InterfaceError, OperationalError

REVIEWED_VERSIONS = {
    "flask-jwt-extended": "4.7.4",
    "flask-limiter": "4.1.1",
    "flask-smorest": "0.47.0",
    "flask-sqlalchemy": "3.1.1",
}


class JWTManager(_JWTManager):
    """Upstream's checks in one decode, with the key chosen by authsvc, not the token.

    Upstream decodes every token twice without verifying it (claims, then
    header) so that a `decode_key_loader` may pick the key from them, then a
    third time to verify it. pyjwt checks each base64 character of every
    segment in Python, so those two extra decodes cost ~70 µs, a sixth of an
    authenticated request. Here the registered `token_verifier` (`jws.verify`)
    reads the header once, picks the key from authsvc's own (the keyring by
    `kid`, or the refresh secret), pins
    the algorithm to it and verifies; the claims' shapes are checked only
    afterwards (`claims_check`): nothing reads a claim before its signature
    is known good. A token whose `type` is not what its signature says (an
    HS256 "access" token, an ES256 "refresh" token) is refused.
    """

    def __init__(self, app=None, add_context_processor=False):
        self._claims_check = None
        self._verify = None
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

    def token_verifier(self, callback):
        """Register `callback(encoded, *, issuer, audience, leeway, allow_expired)`.

        It chooses the key and verifies the signature, expiry, issuer and
        audience, and returns `(kind, claims)`, kind being what the signature
        says the token is ("access" or "refresh"); it raises pyjwt's errors.
        """
        self._verify = callback
        return callback

    def decode_key_loader(self, callback):
        raise NotImplementedError("authsvc chooses the key itself (jws.verify); see claims_check")

    def encode_key_loader(self, callback):
        raise NotImplementedError("authsvc signs with jws.sign_access / jws.sign_refresh")

    def _decode_jwt_from_config(self, encoded_token, csrf_value=None, allow_expired=False):
        """Upstream's checks (signature, algorithm, exp/iat, iss, aud, sub) in one decode."""
        if self._claims_check is None or self._verify is None:  # fail closed
            raise RuntimeError("no claims_check or token_verifier is registered")
        try:
            kind, claims = self._verify(
                encoded_token,
                issuer=config.decode_issuer,
                audience=config.decode_audience,
                leeway=config.leeway,
                allow_expired=allow_expired,
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
        if claims["type"] != kind:
            raise JWTDecodeError("Token type does not match its signature")
        claims.setdefault("fresh", False)
        return claims


def skip_limiter_app_check(app, limiter):
    """Drop Flask-Limiter's app-wide check; call right after `limiter.init_app(app)`.

    Every limit is a `@limiter.limit` on its view and is checked there; the
    app-wide check Flask-Limiter runs before each request (for default and
    blueprint limits, which authsvc has none of) would only cost time.
    (With RATELIMIT_ENABLED off, Flask-Limiter adds no hooks at all.)
    """
    hooks = app.before_request_funcs.get(None, [])
    if limiter._check_request_limit in hooks:
        hooks.remove(limiter._check_request_limit)


# flask-smorest renders these with `title`, `spec_url` and `swagger_ui_url` or
# `redoc_url`; authsvc/templates/ holds pages of the same names that load only
# the app's own assets (no CDN, no inline script). Flask looks in the app's
# template folder before a blueprint's, so they win.
DOCS_TEMPLATES = ("swagger_ui.html", "redoc.html")


def replace_session_teardown(app, db):
    """Flask-SQLAlchemy's teardown, minus the 500 when the database went away.

    Its teardown (`_teardown_session`) rolls the request's session back after
    the response is made; when the server dropped the connection in between (a
    restart, a failover, a network cut) that ROLLBACK raises, and the answer
    already made turns into a bare 500 from gunicorn. The server ended that
    transaction when the connection dropped and SQLAlchemy discards the
    connection: nothing is left to undo, so the answer stands.
    """
    funcs = app.teardown_appcontext_funcs
    if db._teardown_session not in funcs:
        raise RuntimeError("Flask-SQLAlchemy's session teardown is not where it was reviewed")
    funcs[funcs.index(db._teardown_session)] = _remove_session(db)


def _remove_session(db):
    def remove_session(_exc):
        try:
            db.session.remove()
        except (OperationalError, InterfaceError) as error:
            current_app.logger.warning("database connection lost after a response: %s", error.orig)
            db.session.registry.clear()  # remove() raised before discarding the session

    return remove_session
