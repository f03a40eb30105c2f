"""Derived secrets and encryption at rest, as an attacker of the ciphertexts would try."""

import base64
import hashlib
import hmac

import pytest
from flask import Flask

from authsvc import crypto
from config import load_config

OLD = "old-secret-key-0123456789-abcdefghijklmnopq"
NEW = "new-secret-key-0123456789-abcdefghijklmnopq"


def app_with(secret, fallbacks=()):
    app = Flask(__name__)
    app.config.update(SECRET_KEY=secret, SECRET_KEY_FALLBACKS=list(fallbacks))
    return app


def hkdf_sha256(secret: bytes, info: bytes, length=32) -> bytes:
    """RFC 5869 written out with the standard library, to check the derivation."""
    prk = hmac.new(crypto.SALT, secret, hashlib.sha256).digest()
    block, out, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def test_derive_key_is_hkdf_sha256_with_the_purpose_as_info():
    assert crypto.derive_key("totp", NEW) == hkdf_sha256(NEW.encode(), b"authsvc:totp")
    assert crypto.derive_key("totp", NEW.encode()) == crypto.derive_key("totp", NEW)
    assert len(crypto.derive_key("signing-keys", NEW)) == 32


def test_each_purpose_and_each_secret_derives_its_own_key():
    keys = {
        crypto.derive_key(purpose, secret)
        for purpose in ("totp", "signing-keys", "refresh-tokens")
        for secret in (OLD, NEW)
    }
    assert len(keys) == 6
    assert NEW.encode()[:32] not in keys


@pytest.mark.parametrize("purpose, secret", [("", NEW), ("totp", ""), ("totp", b"")])
def test_derive_key_refuses_empty_inputs(purpose, secret):
    with pytest.raises(ValueError):
        crypto.derive_key(purpose, secret)


def test_derived_secret_follows_the_current_secret_key():
    with app_with(NEW, [OLD]).app_context():
        assert crypto.derived_secret("refresh-tokens") == crypto.derive_key("refresh-tokens", NEW)
        assert crypto.derived_secrets("refresh-tokens") == [
            crypto.derive_key("refresh-tokens", NEW),
            crypto.derive_key("refresh-tokens", OLD),
        ]


def test_round_trip_with_a_fresh_nonce_each_time():
    with app_with(NEW).app_context():
        first = crypto.encrypt(b"private key bytes", "signing-keys")
        second = crypto.encrypt(b"private key bytes", "signing-keys")
        assert first != second
        assert first.startswith("v1.")
        assert b"private key bytes" not in base64.urlsafe_b64decode(first[3:])
        assert crypto.decrypt(first, "signing-keys") == b"private key bytes"
        assert crypto.decrypt(second, "signing-keys") == b"private key bytes"


def test_a_ciphertext_opens_only_for_its_own_purpose():
    with app_with(NEW).app_context():
        token = crypto.encrypt(b"JBSWY3DPEHPK3PXP", "totp")
        assert crypto.decrypt(token, "totp") == b"JBSWY3DPEHPK3PXP"  # control
        with pytest.raises(crypto.DecryptionError):
            crypto.decrypt(token, "signing-keys")


def flip_byte(token, index):
    raw = bytearray(base64.urlsafe_b64decode(token[3:]))
    raw[index] ^= 0x01
    return "v1." + base64.urlsafe_b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("index", [0, 11, 12, -1])  # nonce, first/last sealed byte (tag)
def test_a_tampered_ciphertext_is_refused(index):
    with app_with(NEW).app_context():
        token = crypto.encrypt(b"secret", "totp")
        assert crypto.decrypt(token, "totp") == b"secret"  # control
        with pytest.raises(crypto.DecryptionError):
            crypto.decrypt(flip_byte(token, index), "totp")


@pytest.mark.parametrize(
    "garbage",
    ["", "v1.", "v1", "v2.AAAA", "v1.!!!!", "v1.AAAA", "v1." + "A" * 40, "v1.é", None, b"v1.AA"],
)
def test_malformed_ciphertexts_raise_decryption_error_only(garbage):
    with app_with(NEW).app_context(), pytest.raises(crypto.DecryptionError):
        crypto.decrypt(garbage, "totp")


def test_another_secret_cannot_decrypt():
    with app_with(OLD).app_context():
        token = crypto.encrypt(b"secret", "totp")
    with app_with(OLD).app_context():
        assert crypto.decrypt(token, "totp") == b"secret"  # control
    with app_with(NEW).app_context(), pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token, "totp")


def test_secret_key_rotation_with_fallbacks_and_reencryption():
    with app_with(OLD).app_context():
        old_token = crypto.encrypt(b"secret", "signing-keys")
    with app_with(NEW, [OLD]).app_context():
        assert crypto.decrypt(old_token, "signing-keys") == b"secret"
        assert crypto.needs_reencryption(old_token, "signing-keys") is True
        new_token = crypto.reencrypt(old_token, "signing-keys")
        assert new_token != old_token
        assert crypto.needs_reencryption(new_token, "signing-keys") is False
        assert crypto.reencrypt(new_token, "signing-keys") == new_token
    with app_with(NEW).app_context():  # the fallback retired: the new ciphertext still opens
        assert crypto.decrypt(new_token, "signing-keys") == b"secret"
        with pytest.raises(crypto.DecryptionError):
            crypto.decrypt(old_token, "signing-keys")


def test_needs_reencryption_raises_when_nothing_opens_it():
    with app_with(OLD).app_context():
        token = crypto.encrypt(b"secret", "totp")
    with app_with(NEW).app_context(), pytest.raises(crypto.DecryptionError):
        crypto.needs_reencryption(token, "totp")


@pytest.mark.parametrize(
    "raw, expected",
    [
        (None, []),
        ("", []),
        ("a-secret", ["a-secret"]),
        ("one, two", ["one", "two"]),
        ('["one", "two,with,commas"]', ["one", "two,with,commas"]),
    ],
)
def test_secret_key_fallbacks_setting(monkeypatch, raw, expected):
    if raw is None:
        monkeypatch.delenv("SECRET_KEY_FALLBACKS", raising=False)
    else:
        monkeypatch.setenv("SECRET_KEY_FALLBACKS", raw)
    fallbacks = load_config({"APP_ENV": "testing"}).SECRET_KEY_FALLBACKS
    assert fallbacks == expected


def test_secret_key_fallbacks_override_may_be_text_or_a_list():
    assert load_config({"SECRET_KEY_FALLBACKS": "a,b"}).SECRET_KEY_FALLBACKS == ["a", "b"]
    assert load_config({"SECRET_KEY_FALLBACKS": ["a"]}).SECRET_KEY_FALLBACKS == ["a"]
