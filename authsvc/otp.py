"""One-time codes without a database: TOTP (RFC 6238), recovery codes, mfa tokens.

TOTP is SHA-1, 6 digits, 30 s steps, one step of clock drift either way.
Recovery codes are 16 characters of Crockford's base32 (80 random bits),
shown as `XXXX-XXXX-XXXX-XXXX`; typing them in lower case, without the dashes,
or with `O` for `0` and `I`/`L` for `1` still works.
"""

import hashlib
import io
import re
import secrets
import time

import pyotp
import segno

DRIFT_STEPS = 1
TOTP_DIGITS = 6
RECOVERY_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U
RECOVERY_GROUPS = 4
RECOVERY_GROUP_LENGTH = 4
RECOVERY_LENGTH = RECOVERY_GROUPS * RECOVERY_GROUP_LENGTH
RECOVERY_CODE_COUNT = 10
# What people mistype for what they meant, and what separates the groups.
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = re.compile(r"[\s\-]")
_TOTP_CODE = re.compile(rf"[0-9]{{{TOTP_DIGITS}}}")


def new_secret():
    """A base32 TOTP secret of 160 bits (RFC 4226's recommended length)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret, account, issuer):
    """The `otpauth://totp/...` URI authenticator apps scan."""
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def qr_svg(uri):
    """The URI as a QR code: an SVG document (with its namespace, so it also stands alone)."""
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(
        buffer, kind="svg", xmldecl=False, nl=False, scale=4, title="TOTP enrolment"
    )
    return buffer.getvalue().decode()


def code_at(secret, for_time):
    """The TOTP code of `secret` at a Unix time (for tests and the walkthrough)."""
    return pyotp.TOTP(secret).at(for_time)


def is_totp_code(code):
    return _TOTP_CODE.fullmatch(code) is not None


def matching_step(secret, code, now=None):
    """The 30 s step (within ±DRIFT_STEPS of now) whose code is `code`, or None."""
    code = _SEPARATORS.sub("", code)
    if not is_totp_code(code):
        return None
    totp = pyotp.TOTP(secret)
    try:
        return totp.verify_and_get_timecode(
            code, for_time=time.time() if now is None else now, valid_window=DRIFT_STEPS
        )
    except pyotp.exceptions.OTPVerificationError:
        return None


def new_recovery_code():
    """A recovery code, `XXXX-XXXX-XXXX-XXXX` (80 random bits)."""
    chars = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
    return "-".join(
        chars[i : i + RECOVERY_GROUP_LENGTH]
        for i in range(0, RECOVERY_LENGTH, RECOVERY_GROUP_LENGTH)
    )


def new_recovery_codes(count=RECOVERY_CODE_COUNT):
    """`count` distinct recovery codes."""
    codes = set()
    while len(codes) < count:
        codes.add(new_recovery_code())
    return sorted(codes)


def normalize_recovery_code(code):
    """The canonical 16 characters of a typed recovery code, or None if it is none."""
    chars = _SEPARATORS.sub("", code).upper().translate(_LOOKALIKES)
    if len(chars) != RECOVERY_LENGTH or any(ch not in RECOVERY_ALPHABET for ch in chars):
        return None
    return chars


def digest(value):
    """SHA-256, hex: how recovery codes and mfa tokens are stored.

    Both carry 80 or more random bits, so a plain digest cannot be reversed by
    search; no salt or slow hash is needed (those protect low-entropy passwords).
    """
    return hashlib.sha256(value.encode()).hexdigest()


def recovery_code_digest(code):
    """The stored form of a typed recovery code, or None when it cannot be one."""
    chars = normalize_recovery_code(code)
    return None if chars is None else digest(chars)


def new_mfa_token():
    """An opaque `mfa_token`: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)
