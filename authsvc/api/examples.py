"""Request and response examples shown in the OpenAPI spec (Swagger UI, ReDoc)."""

# Shortened tokens: real ones are HS256 JWTs of a few hundred characters.
ACCESS_TOKEN = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIiwidHlwZSI6ImFjY2VzcyJ9.sig"
REFRESH_TOKEN = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIiwidHlwZSI6InJlZnJlc2gifQ.sig"
SESSION_ID = "3f1c2a9b8d7e4f60a1b2c3d4e5f60718"

REGISTER = {
    "email": "ada@example.com",
    "username": "ada",
    "password": "correct-horse-battery",
    "full_name": "Ada Lovelace",
}
LOGIN = {"username": "ada", "password": "correct-horse-battery"}
LOGIN_FORM = {"grant_type": "password", "username": "ada", "password": "correct-horse-battery"}
REFRESH = {"refresh_token": REFRESH_TOKEN}
TOKEN_PAIR = {
    "access_token": ACCESS_TOKEN,
    "refresh_token": REFRESH_TOKEN,
    "token_type": "bearer",
    "expires_in": 900,
}
USER = {
    "id": 1,
    "email": "ada@example.com",
    "username": "ada",
    "full_name": "Ada Lovelace",
    "is_active": True,
    "is_admin": False,
    "mfa_enabled": False,
    "email_verified": False,
    "created_at": "2026-11-24T10:00:00+00:00",
    "updated_at": "2026-11-24T10:00:00+00:00",
}
# What a reset or verification mail carries: 43 URL-safe characters (256 bits).
EMAIL_TOKEN = "kWq3sV0f6yZk1bqY9nH2cXjR8tLmP4aE7uD5gS0wQxI"
SESSIONS = [
    {
        "id": SESSION_ID,
        "created_at": "2026-11-24T10:00:00+00:00",
        "last_used_at": "2026-11-24T10:15:00+00:00",
        "user_agent": "Mozilla/5.0",
        "ip": "203.0.113.7",
        "expires_at": "2026-12-24T10:00:00+00:00",
        "current": True,
    }
]
PROFILE_UPDATE = {
    "full_name": "Augusta Ada King",
    "password": "a-new-long-passphrase",
    "current_password": "correct-horse-battery",
}
ADMIN_CREATE = {
    "email": "grace@example.com",
    "username": "grace",
    "password": "cobol-compiler-1959",
    "full_name": "Grace Hopper",
    "is_admin": True,
}
ADMIN_UPDATE = {"is_active": False}
LOGGED_OUT = {"message": "Logged out"}
ALL_LOGGED_OUT = {"message": "Logged out of all sessions", "sessions_revoked": 2}
SESSIONS_REVOKED = {"message": "Sessions revoked", "sessions_revoked": 2}
VALIDATION_ERRORS = {
    "email": ["Not a valid email address."],
    "password": ["Password is too common."],
}
PASSKEY = {
    "id": 3,
    "name": "Laptop",
    "created_at": "2026-11-24T10:00:00+00:00",
    "last_used_at": "2026-11-25T08:30:00+00:00",
    "transports": ["internal", "hybrid"],
    "backup_eligible": True,
    "backed_up": True,
}
PASSKEY_NAME = {"name": "Laptop"}
PASSKEY_CREATION_OPTIONS = {
    "rp": {"name": "authsvc", "id": "localhost"},
    "user": {"id": "q8o0-Jm3YbH1CIW1qv3QpA", "name": "ada", "displayName": "Ada Lovelace"},
    "challenge": "Xb8oWuQ2g3ZjyX4Ck7lYv0y5yqG1s0rG8QqH7ZpQm9w",
    "pubKeyCredParams": [{"type": "public-key", "alg": -8}, {"type": "public-key", "alg": -7}],
    "timeout": 120000,
    "excludeCredentials": [{"type": "public-key", "id": "AbCdEfGhIjKlMnOpQrStUv"}],
    "authenticatorSelection": {
        "residentKey": "required",
        "requireResidentKey": True,
        "userVerification": "required",
    },
    "attestation": "none",
}
PASSKEY_REQUEST_OPTIONS = {
    "rpId": "localhost",
    "challenge": "m1Yc2c0bPq7o3yQe5vN4sX8hW6tR2uZ9aJ1kL3dF5gH",
    "timeout": 120000,
    "allowCredentials": [],
    "userVerification": "required",
}
PASSKEY_REGISTRATION = {
    "credential": {
        "id": "AbCdEfGhIjKlMnOpQrStUv",
        "rawId": "AbCdEfGhIjKlMnOpQrStUv",
        "type": "public-key",
        "response": {
            "clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIiwi...",
            "attestationObject": "o2NmbXRkbm9uZWdhdHRTdG10oGhhdXRoRGF0YVi...",
            "transports": ["internal", "hybrid"],
        },
        "clientExtensionResults": {},
        "authenticatorAttachment": "platform",
    },
    "name": "Laptop",
}
PASSKEY_ASSERTION = {
    "credential": {
        "id": "AbCdEfGhIjKlMnOpQrStUv",
        "rawId": "AbCdEfGhIjKlMnOpQrStUv",
        "type": "public-key",
        "response": {
            "clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uZ2V0Iiwi...",
            "authenticatorData": "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MFAAAAAQ",
            "signature": "MEUCIQDx...",
            "userHandle": "q8o0-Jm3YbH1CIW1qv3QpA",
        },
        "clientExtensionResults": {},
        "authenticatorAttachment": "platform",
    }
}
MFA_ENROL = {"current_password": "correct-horse-battery"}
MFA_ENROLMENT = {
    "secret": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
    "otpauth_uri": "otpauth://totp/authsvc:ada%40example.com"
    "?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=authsvc",
    "qr_svg": '<svg xmlns="http://www.w3.org/2000/svg" width="196" height="196">...</svg>',
}
MFA_CODE = {"code": "492039"}
MFA_DISABLE = {"current_password": "correct-horse-battery", "code": "492039"}
MFA_VERIFY = {"mfa_token": "kq3Zb7Jr0yNf2m8QeV1sXu5dTgHc4aPw9LoRiYtE6nM", "code": "492039"}
RECOVERY_CODES = {
    "recovery_codes": [
        "7QFN-FY93-39NH-N4QE",
        "8BCV-M8DY-RQZG-4KZM",
        "DAWX-ATPV-5SND-3W8S",
        "...",
    ]
}
MFA_STATUS = {
    "mfa_enabled": True,
    "pending": False,
    "totp_locked": False,
    "recovery_codes_remaining": 9,
}

JWKS = {
    "keys": [
        {
            "alg": "ES256",
            "crv": "P-256",
            "kid": "9yB2oN1r2dvb0WQVoO5J3ycKFZ0u5o0S0U0eK8BvLyA",
            "kty": "EC",
            "use": "sig",
            "x": "Wb3hO4mUh3Hk0aWZ1v7s3cQ2Jc9l1hY3x9b2kq1Q0gE",
            "y": "b2I6mQ3aXv5hN8o0t1Z4xJ7cK2pL9sD3fG6hJ1kL0mN",
        }
    ]
}
METADATA = {
    "issuer": "https://auth.example.com",
    "jwks_uri": "https://auth.example.com/.well-known/jwks.json",
    "token_endpoint": "https://auth.example.com/api/v1/auth/login",
    "introspection_endpoint": "https://auth.example.com/oauth/introspect",
    "revocation_endpoint": "https://auth.example.com/oauth/revoke",
    "grant_types_supported": ["password", "refresh_token"],
    "response_types_supported": [],
    "token_endpoint_auth_methods_supported": ["none"],
    "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
    "revocation_endpoint_auth_methods_supported": ["none"],
    "service_documentation": "https://auth.example.com/docs",
}
INTROSPECTION = {
    "active": True,
    "sub": "42",
    "sid": "2f1c0a3e9b7d4c5a8e6f1b2c3d4e5f60",
    "exp": 1795950000,
    "iat": 1795949100,
    "iss": "https://auth.example.com",
    "aud": "authsvc",
    "jti": "6e0c2b1a-4f3d-4e5b-9a8c-7d6e5f4a3b2c",
    "token_type": "access_token",
    "username": "ada",
    "amr": ["pwd"],
}
TOKEN_FORM = {
    "token": "eyJhbGciOiJFUzI1NiIsImtpZCI6Ii4uLiIsInR5cCI6ImF0K2p3dCJ9...",
    "token_type_hint": "access_token",
}
