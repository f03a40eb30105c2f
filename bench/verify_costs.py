"""Signing and verification cost of each access-token algorithm, in this process.

Every figure is the median over `tokens` distinct tokens (no token verified
twice, so no cache of any kind helps), with the keys authsvc makes itself.
"""

import statistics
import time

import jwt as pyjwt
from jwt.algorithms import get_default_algorithms

from authsvc import keys

ALGORITHMS = keys.ALGORITHMS


def measure(alg, tokens=1000):
    """Median µs to sign and to verify one token with `alg`, and the token's size."""
    private = keys.generate_private_key(alg)
    public = get_default_algorithms()[alg].from_jwk(keys.public_jwk(private, alg))
    now = int(time.time())
    base = {"sub": "42", "sid": "a" * 32, "type": "access", "amr": ["pwd"], "iat": now}
    signed, sign_us = [], []
    for n in range(tokens):
        claims = {**base, "jti": str(n), "exp": now + 900}
        started = time.perf_counter()
        signed.append(pyjwt.encode(claims, private, algorithm=alg, headers={"kid": "k"}))
        sign_us.append((time.perf_counter() - started) * 1e6)
    verify_us = []
    for token in signed:
        started = time.perf_counter()
        pyjwt.decode(token, public, algorithms=[alg])
        verify_us.append((time.perf_counter() - started) * 1e6)
    return {
        "alg": alg,
        "tokens": tokens,
        "sign_us": round(statistics.median(sign_us), 1),
        "verify_us": round(statistics.median(verify_us), 1),
        "token_bytes": round(statistics.mean(len(token) for token in signed)),
    }


def measure_all(tokens=1000):
    return [measure(alg, tokens) for alg in ALGORITHMS]


def format_table(rows):
    header = f"{'algorithm':<10} {'sign µs':>9} {'verify µs':>10} {'token bytes':>12}"
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(
            f"{row['alg']:<10} {row['sign_us']:>9.1f} {row['verify_us']:>10.1f} "
            f"{row['token_bytes']:>12}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_table(measure_all()))
