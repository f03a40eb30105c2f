"""One-time codes without a database: TOTP steps, recovery-code formats, digests."""

import base64
import string

import pyotp
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from authsvc import otp

SECRETS = st.binary(min_size=20, max_size=20).map(lambda raw: base64.b32encode(raw).decode())
# Unix times from 2000 to 2100, away from a step's edges by at least a second.
TIMES = st.integers(min_value=946_684_800 // 30, max_value=4_102_444_800 // 30).flatmap(
    lambda step: st.floats(min_value=step * 30 + 1, max_value=step * 30 + 29)
)


@given(secret=SECRETS, now=TIMES, drift=st.sampled_from([-1, 0, 1]))
def test_a_code_within_one_step_matches_its_own_step(secret, now, drift):
    step = int(now // 30) + drift
    code = pyotp.TOTP(secret).at(step * 30)
    # A code that another step in the window shares would match the earliest.
    window = [pyotp.TOTP(secret).at((int(now // 30) + k) * 30) for k in (-1, 0, 1)]
    assume(window.count(code) == 1)
    assert otp.matching_step(secret, code, now) == step


@given(secret=SECRETS, now=TIMES, drift=st.sampled_from([-3, -2, 2, 3]))
def test_a_code_two_or_more_steps_away_matches_nothing(secret, now, drift):
    code = pyotp.TOTP(secret).at((int(now // 30) + drift) * 30)
    window = [pyotp.TOTP(secret).at((int(now // 30) + k) * 30) for k in (-1, 0, 1)]
    assume(code not in window)  # a one-in-a-million coincidence
    assert otp.matching_step(secret, code, now) is None


@given(secret=SECRETS, now=TIMES, text=st.text(max_size=20))
def test_anything_but_six_digits_matches_nothing(secret, now, text):
    stripped = text.replace(" ", "").replace("-", "")
    assume(not (len(stripped) == 6 and stripped.isascii() and stripped.isdigit()))
    assert otp.matching_step(secret, text, now) is None


def test_a_recovery_code_carries_at_least_64_random_bits():
    code = otp.new_recovery_code()
    assert len(otp.RECOVERY_ALPHABET) ** otp.RECOVERY_LENGTH >= 2**80
    assert len(code) == 19 and code.count("-") == 3
    assert len(set(otp.new_recovery_codes())) == otp.RECOVERY_CODE_COUNT


TYPINGS = st.sampled_from(
    [
        lambda c: c,
        str.lower,
        lambda c: c.replace("-", ""),
        lambda c: c.replace("-", " "),
        lambda c: f"  {c}\t",
        lambda c: c.replace("0", "O").replace("1", "l"),
        lambda c: c.lower().replace("1", "i"),
    ]
)


@settings(max_examples=200)
@given(typing=TYPINGS, data=st.data())
def test_a_recovery_code_as_people_type_it_has_the_same_digest(typing, data):
    code = otp.new_recovery_code()
    typed = typing(code)
    assert otp.recovery_code_digest(typed) == otp.recovery_code_digest(code)
    assert otp.recovery_code_digest(typed) == otp.digest(code.replace("-", ""))


@given(text=st.text(max_size=40))
def test_any_text_is_a_canonical_recovery_code_or_none(text):
    chars = otp.normalize_recovery_code(text)
    if chars is not None:
        assert len(chars) == 16 and set(chars) <= set(otp.RECOVERY_ALPHABET)


@given(
    code=st.text(alphabet=otp.RECOVERY_ALPHABET, min_size=16, max_size=16), index=st.integers(0, 15)
)
def test_one_changed_character_is_another_code(code, index):
    other = otp.RECOVERY_ALPHABET[(otp.RECOVERY_ALPHABET.index(code[index]) + 1) % 32]
    changed = code[:index] + other + code[index + 1 :]
    assert otp.recovery_code_digest(changed) != otp.recovery_code_digest(code)


@pytest.mark.parametrize("text", ["", "1234-5678", "ABCD-EFGH-JKMN-PQRSU", "ABCD-EFGH-JKMN-PQR!"])
def test_near_misses_are_no_recovery_codes(text):
    assert otp.normalize_recovery_code(text) is None


def test_a_totp_secret_is_160_bits_of_base32():
    secret = otp.new_secret()
    assert set(secret) <= set(string.ascii_uppercase + "234567")
    assert len(base64.b32decode(secret)) == 20


def test_the_qr_code_is_a_standalone_svg():
    svg = otp.qr_svg("otpauth://totp/authsvc:ada%40example.com?secret=JBSWY3DPEHPK3PXP")
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"') and svg.endswith("</svg>")
    assert "<script" not in svg
