"""Secrets derived from `SECRET_KEY`, and encryption at rest (AES-256-GCM).

Every use of the root secret names a purpose ("signing-keys", "totp",
"refresh-tokens"...): HKDF-SHA256 derives an independent key per purpose, so
a key leaked from one use opens nothing else. Ciphertexts are bound to their
purpose as well (it is the GCM associated data): a TOTP secret cannot be
decrypted as a signing key. Secrets in `SECRET_KEY_FALLBACKS` still decrypt,
so `SECRET_KEY` can be rotated; `needs_reencryption` and `reencrypt` move a
ciphertext under the current secret.

A ciphertext is the text `v1.` + base64url(12-byte nonce + ciphertext + tag).
"""

import base64
import binascii
import os
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

VERSION = "v1"
NONCE_BYTES = 12
KEY_BYTES = 32
# A fixed, public salt: HKDF's extract step then works as documented (RFC 5869
# §3.1) while every derivation stays reproducible from SECRET_KEY alone.
SALT = b"authsvc/hkdf/v1"


class DecryptionError(ValueError):
    """The ciphertext is malformed, or no configured secret opens it."""


@lru_cache(maxsize=64)
def _derive(purpose: str, secret: bytes) -> bytes:
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=KEY_BYTES,
        salt=SALT,
        info=b"authsvc:" + purpose.encode(),
    )
    return hkdf.derive(secret)


def derive_key(purpose: str, secret: str | bytes) -> bytes:
    """Derive the 32-byte key of `purpose` from `secret` (HKDF-SHA256)."""
    if not purpose:
        raise ValueError("a purpose is required")
    if isinstance(secret, str):
        secret = secret.encode()
    if not secret:
        raise ValueError("an empty secret derives nothing")
    return _derive(purpose, secret)


def root_secrets() -> list[str | bytes]:
    """`SECRET_KEY` first, then each of `SECRET_KEY_FALLBACKS`."""
    config = current_app.config
    return [config["SECRET_KEY"], *config.get("SECRET_KEY_FALLBACKS", ())]


def derived_secret(purpose: str) -> bytes:
    """The key of `purpose` derived from the current `SECRET_KEY`."""
    return derive_key(purpose, current_app.config["SECRET_KEY"])


def derived_secrets(purpose: str) -> list[bytes]:
    """The keys of `purpose` from `SECRET_KEY` and every fallback, current first."""
    return [derive_key(purpose, secret) for secret in root_secrets()]


def encrypt(plaintext: bytes, purpose: str) -> str:
    """Encrypt under the current `SECRET_KEY`'s key for `purpose`."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(derived_secret(purpose)).encrypt(nonce, plaintext, purpose.encode())
    return f"{VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def _open(token: str, purpose: str) -> tuple[bytes, int]:
    """Return the plaintext and the index of the secret that opened it."""
    if not isinstance(token, str):
        raise DecryptionError("ciphertext must be text")
    version, _, body = token.partition(".")
    if version != VERSION:
        raise DecryptionError("unknown ciphertext version")
    try:
        raw = base64.urlsafe_b64decode(body.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise DecryptionError("ciphertext is not base64url") from exc
    if len(raw) < NONCE_BYTES + 16:
        raise DecryptionError("ciphertext is too short")
    nonce, sealed = raw[:NONCE_BYTES], raw[NONCE_BYTES:]
    for index, key in enumerate(derived_secrets(purpose)):
        try:
            return AESGCM(key).decrypt(nonce, sealed, purpose.encode()), index
        except InvalidTag:
            continue
    raise DecryptionError("no configured secret decrypts this ciphertext")


def decrypt(token: str, purpose: str) -> bytes:
    """Decrypt with `SECRET_KEY`, or else with one of `SECRET_KEY_FALLBACKS`."""
    return _open(token, purpose)[0]


def needs_reencryption(token: str, purpose: str) -> bool:
    """True when only a fallback secret opens `token` (raises when none does)."""
    return _open(token, purpose)[1] > 0


def reencrypt(token: str, purpose: str) -> str:
    """Return `token` sealed under the current secret (itself when it already is)."""
    plaintext, index = _open(token, purpose)
    return token if index == 0 else encrypt(plaintext, purpose)
