"""Signing and verification as an attacker would try them; each attack beside a genuine token."""

import base64
import hashlib
import hmac
import json
import time

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm

from authsvc import jws, keyring, keys

ISSUER, AUDIENCE = "http://authsvc.test", "authsvc"
OPTIONS = {"issuer": ISSUER, "audience": AUDIENCE, "leeway": 0}


@pytest.fixture(params=["ES256", "RS256", "EdDSA"])
def app_settings(request):
    return {"JWT_ALGORITHM": request.param}


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield app


def claims(kind="access", **extra):
    now = int(time.time())
    return {
        "sub": "1",
        "sid": "a" * 32,
        "jti": "j",
        "type": kind,
        "iat": now,
        "exp": now + 300,
        "iss": ISSUER,
        "aud": AUDIENCE,
        **extra,
    }


def b64(data):
    if not isinstance(data, bytes):
        data = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256(header, payload, secret):
    signing_input = f"{b64(header)}.{b64(payload)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def refused(token):
    with pytest.raises(pyjwt.InvalidTokenError):
        jws.verify(token, **OPTIONS)


def test_genuine_tokens_verify(ctx):
    assert jws.verify(jws.sign_access(claims()), **OPTIONS)[0] == "access"
    assert jws.verify(jws.sign_refresh(claims("refresh")), **OPTIONS)[0] == "refresh"
    header = pyjwt.get_unverified_header(jws.sign_access(claims()))
    assert header["typ"] == "at+jwt" and header["alg"] == ctx.config["JWT_ALGORITHM"]
    assert header["kid"] == keyring.keyring().signing_key().kid


def test_unknown_kid(ctx):
    genuine = jws.sign_access(claims())
    header = pyjwt.get_unverified_header(genuine)
    signing = keyring.keyring().signing_key()
    forged = pyjwt.encode(
        claims(), signing.private_key, algorithm=signing.alg, headers={**header, "kid": "Q" * 43}
    )
    refused(forged)
    jws.verify(genuine, **OPTIONS)  # control


@pytest.mark.parametrize("material", ["pem", "der", "jwk"])
def test_hs256_signed_with_the_public_key_is_refused(ctx, material):
    signing = keyring.keyring().signing_key()
    public = signing.private_key.public_key()
    secret = {
        "pem": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "der": public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "jwk": keyring.keyring().jwks()[0],
    }[material]
    for header in (
        {"alg": "HS256", "kid": signing.kid, "typ": "at+jwt"},
        {"alg": "HS256", "typ": "JWT"},
    ):
        refused(hs256(header, claims(), secret))
        refused(hs256(header, claims("refresh"), secret))
    jws.verify(jws.sign_access(claims()), **OPTIONS)  # control


def test_algorithm_other_than_the_keys_is_refused(ctx):
    signing = keyring.keyring().signing_key()
    other = "RS256" if signing.alg != "RS256" else "ES256"
    attacker = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if other == "RS256"
        else ec.generate_private_key(ec.SECP256R1())
    )
    forged = pyjwt.encode(
        claims(), attacker, algorithm=other, headers={"kid": signing.kid, "typ": "at+jwt"}
    )
    refused(forged)


@pytest.mark.parametrize("alg", ["none", "None", "NONE", ""])
def test_alg_none_is_refused(ctx, alg):
    kid = keyring.keyring().signing_key().kid
    for kind in ("access", "refresh"):
        refused(f"{b64({'alg': alg, 'kid': kid, 'typ': 'at+jwt'})}.{b64(claims(kind))}.")
        refused(f"{b64({'alg': alg})}.{b64(claims(kind))}.")


@pytest.mark.parametrize("source", ["jwk", "jku", "x5u", "x5c", "x5t"])
def test_headers_naming_a_key_source_are_refused(ctx, source):
    attacker = ec.generate_private_key(ec.SECP256R1())
    jwk = ECAlgorithm.to_jwk(attacker.public_key(), as_dict=True)
    value = {
        "jwk": jwk,
        "jku": "https://attacker.example/jwks.json",
        "x5u": "https://attacker.example/cert.pem",
        "x5c": ["MIIB"],
        "x5t": "abc",
    }[source]
    forged = pyjwt.encode(
        claims(), attacker, algorithm="ES256", headers={"kid": keys.thumbprint(jwk), source: value}
    )
    refused(forged)
    # Even with a genuine signature, a key source in the header is refused.
    signing = keyring.keyring().signing_key()
    genuine_with_source = pyjwt.encode(
        claims(),
        signing.private_key,
        algorithm=signing.alg,
        headers={"kid": signing.kid, "typ": "at+jwt", source: value},
    )
    refused(genuine_with_source)
    jws.verify(jws.sign_access(claims()), **OPTIONS)  # control


def test_access_header_without_at_jwt_type_is_refused(ctx):
    signing = keyring.keyring().signing_key()
    token = pyjwt.encode(
        claims(), signing.private_key, algorithm=signing.alg, headers={"kid": signing.kid}
    )
    refused(token)


def test_a_refresh_token_fails_against_every_published_key(ctx):
    refresh = jws.sign_refresh(claims("refresh"))
    published = json.loads(keyring.keyring().jwks()[0])["keys"]
    assert published
    for jwk in published:
        key = pyjwt.PyJWK(jwk)
        with pytest.raises(pyjwt.InvalidTokenError):
            pyjwt.decode(refresh, key.key, algorithms=[jwk["alg"]], audience=AUDIENCE)
        access = jws.sign_access(claims())  # control: the same check passes an access token
        if jwk["kid"] == keyring.keyring().signing_key().kid:
            assert pyjwt.decode(access, key.key, algorithms=[jwk["alg"]], audience=AUDIENCE)


def test_refresh_tokens_signed_with_the_raw_secret_key_are_refused(ctx):
    refused(
        hs256({"alg": "HS256", "typ": "JWT"}, claims("refresh"), ctx.config["SECRET_KEY"].encode())
    )
    jws.verify(jws.sign_refresh(claims("refresh")), **OPTIONS)  # control


def test_refresh_tokens_survive_a_secret_key_rotation_through_fallbacks(ctx):
    old_secret = ctx.config["SECRET_KEY"]
    token = jws.sign_refresh(claims("refresh"))
    ctx.config.update(
        SECRET_KEY="rotated-secret-key-0123456789-abcdefghijk", SECRET_KEY_FALLBACKS=[old_secret]
    )
    assert jws.verify(token, **OPTIONS)[0] == "refresh"
    ctx.config["SECRET_KEY_FALLBACKS"] = []
    refused(token)


def test_a_revoked_keys_tokens_die_at_the_next_reload(ctx):
    ring = keyring.keyring()
    token = jws.sign_access(claims())
    jws.verify(token, **OPTIONS)  # control, and now in the verified-token memory
    keys.revoke(ring.signing_key().kid)
    ring.loaded_at -= ring.refresh_seconds  # the reload interval has passed
    refused(token)
    jws.verify(jws.sign_access(claims()), **OPTIONS)  # the promoted key signs and verifies


@pytest.mark.parametrize(
    "token",
    ["", "a", "a.b", "a.b.c", "....", "x" * 9000, "eyJhbGciOiJFUzI1NiJ9.e30.", None],
)
def test_garbage_is_refused(ctx, token):
    refused(token)


def test_the_verified_token_memory_is_bounded_and_keyed_by_the_whole_token(ctx):
    memory = jws.verified_tokens()
    memory.size = 10
    tokens = [jws.sign_access(claims(jti=str(n))) for n in range(25)]
    for token in tokens:
        jws.verify(token, **OPTIONS)
    assert len(memory) == 10
    tampered = tokens[-1][:-2] + ("A" if tokens[-1][-2] != "A" else "B") + tokens[-1][-1]
    refused(tampered)


def test_an_expired_token_is_refused_even_when_remembered(ctx, time_machine):
    token = jws.sign_access(claims(exp=int(time.time()) + 2))
    jws.verify(token, **OPTIONS)
    time_machine.move_to(time.time() + 2.1)
    with pytest.raises(pyjwt.ExpiredSignatureError):
        jws.verify(token, **OPTIONS)
