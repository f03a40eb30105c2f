"""Passkeys: WebAuthn registration and login ceremonies (py_webauthn), credentials, challenges.

Every options call stores its challenge server-side (`challenges`), as a
SHA-256 with what it is for and for whom; the answer names it only through the
challenge the authenticator signed, and spends it with one conditional UPDATE
(unused and younger than five minutes), committed at once, so of two requests
presenting it exactly one goes on. A spent challenge stays spent whether or not
the ceremony then verifies, and no later failure (a 409, a 500) rolls it back.
`credentials` registers, lists and deletes passkeys; `login` verifies
assertions and moves each credential's signature counter forward with a
conditional UPDATE, so two assertions can never both claim the same count.

A passkey login requires user verification (a PIN or biometric on the
authenticator): possession of the key plus that check are two factors, so the
session's `amr` is `["hwk", "mfa"]` (RFC 8176) and no TOTP is asked for.
"""

from .challenges import prune_challenges
from .credentials import (
    PasskeyRejected,
    delete_passkey,
    list_passkeys,
    register,
    registration_options,
)
from .login import PASSKEY_AMR, PasskeyLogin, PasskeyLoginFailed, login, login_options

__all__ = [
    "PASSKEY_AMR",
    "PasskeyLogin",
    "PasskeyLoginFailed",
    "PasskeyRejected",
    "delete_passkey",
    "list_passkeys",
    "login",
    "login_options",
    "prune_challenges",
    "register",
    "registration_options",
]
