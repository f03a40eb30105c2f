"""Database models, one module per area; everything is re-exported here.

Models never commit; the use cases (`accounts`, `sessions`) do, once each.
A new feature adds `models/<feature>.py` and re-exports its models below.
"""

from .clients import IntrospectionClient
from .keys import SigningKey
from .mail import EmailToken, OutboxMail
from .mfa import MfaChallenge, RecoveryCode, TotpFactor
from .passkeys import Passkey, PasskeyChallenge
from .sessions import (
    DEFAULT_AMR,
    LoginSession,
    RefreshToken,
    is_live,
    live_clause,
)
from .users import User, UTCDateTime, utcnow

__all__ = [
    "DEFAULT_AMR",
    "IntrospectionClient",
    "EmailToken",
    "OutboxMail",
    "LoginSession",
    "MfaChallenge",
    "Passkey",
    "PasskeyChallenge",
    "RecoveryCode",
    "RefreshToken",
    "SigningKey",
    "TotpFactor",
    "UTCDateTime",
    "User",
    "is_live",
    "live_clause",
    "utcnow",
]
