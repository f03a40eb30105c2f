"""Configuration classes, read from the environment and from `.env`.

`APP_ENV` picks the class (development, testing, production). Every setting in
the README's configuration table is read here, and only here.
"""

import ipaddress
import json
import os
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import load_dotenv

BASE_DIR = Path(__file__).resolve().parent
load_dotenv(BASE_DIR / ".env")

ACCESS_TOKEN_ALGORITHMS = ("ES256", "RS256", "EdDSA")
DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me-0123456789"
MIN_SECRET_KEY_BYTES = 32
# Hosts a browser runs WebAuthn on over plain http (secure contexts); elsewhere, https only.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
DEFAULT_PORTS = {"http": 80, "https": 443}
DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def env_str(name, default=None):
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def env_int(name, default):
    return int(env_str(name, default))


def env_float(name, default):
    return float(env_str(name, default))


def env_bool(name, default):
    value = env_str(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name):
    """Read a JSON list or a comma-separated list of strings."""
    return parse_list(env_str(name, ""))


def parse_list(raw):
    """A JSON list or a comma-separated list of strings (a list passes through)."""
    if isinstance(raw, list | tuple):
        return [str(item) for item in raw if str(item)]
    if raw.lstrip().startswith("["):
        return [str(item).strip() for item in json.loads(raw) if str(item).strip()]
    return [item.strip() for item in raw.split(",") if item.strip()]


def default_database_url():
    return f"sqlite:///{BASE_DIR / 'instance' / 'authsvc.db'}"


class Config:
    """Settings shared by every environment; each read when the class is built."""

    APP_ENV = "development"
    TESTING = False

    def __init__(self, overrides=None):
        overrides = dict(overrides or {})
        self.SECRET_KEY = env_str("SECRET_KEY", DEV_SECRET_KEY)
        # Older secrets, still accepted for decryption while SECRET_KEY rotates.
        self.SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS")
        self.SQLALCHEMY_DATABASE_URI = env_str("DATABASE_URL", default_database_url())
        self.ACCESS_TOKEN_EXPIRE_MINUTES = env_int("ACCESS_TOKEN_EXPIRE_MINUTES", 15)
        self.REFRESH_TOKEN_EXPIRE_DAYS = env_int("REFRESH_TOKEN_EXPIRE_DAYS", 30)
        self.BACKEND_CORS_ORIGINS = env_list("BACKEND_CORS_ORIGINS")
        self.BCRYPT_LOG_ROUNDS = env_int("BCRYPT_LOG_ROUNDS", self.default_bcrypt_rounds())
        self.RATELIMIT_ENABLED = env_bool("RATELIMIT_ENABLED", True)
        self.RATELIMIT_STORAGE_URI = env_str("RATELIMIT_STORAGE_URI", "memory://")
        self.LOGIN_RATE_LIMIT = env_str("LOGIN_RATE_LIMIT", "5 per minute")
        self.REGISTER_RATE_LIMIT = env_str("REGISTER_RATE_LIMIT", "10 per minute")
        self.REFRESH_RATE_LIMIT = env_str("REFRESH_RATE_LIMIT", "30 per minute")
        self.PASSKEY_LOGIN_RATE_LIMIT = env_str("PASSKEY_LOGIN_RATE_LIMIT", "10 per minute")
        self.PASSKEY_REGISTER_RATE_LIMIT = env_str("PASSKEY_REGISTER_RATE_LIMIT", "10 per minute")
        self.MFA_VERIFY_RATE_LIMIT = env_str("MFA_VERIFY_RATE_LIMIT", "10 per minute")
        # Consecutive wrong codes that lock TOTP (NIST SP 800-63B: at most 100).
        self.MFA_LOCKOUT_THRESHOLD = env_int("MFA_LOCKOUT_THRESHOLD", 10)
        self.MFA_ISSUER = env_str("MFA_ISSUER", "authsvc")
        self.TRUSTED_PROXIES = env_int("TRUSTED_PROXIES", 0)
        # The public base URL: `iss` of every token; required in production.
        self.JWT_ISSUER = env_str("JWT_ISSUER", self.default_issuer())
        self.JWT_ALGORITHM = env_str("JWT_ALGORITHM", "ES256")
        self.KEYS_REFRESH_SECONDS = env_float("KEYS_REFRESH_SECONDS", 30)
        self.KEYS_MIN_REFRESH_SECONDS = env_float("KEYS_MIN_REFRESH_SECONDS", 5)
        self.INTROSPECTION_FAILURE_RATE_LIMIT = env_str(
            "INTROSPECTION_FAILURE_RATE_LIMIT", "20 per minute"
        )
        self.JWT_AUDIENCE = env_str("JWT_AUDIENCE", "authsvc")
        self.LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
        self.METRICS_ENABLED = env_bool("METRICS_ENABLED", False)
        # The passkey relying party: its id (a registrable domain, never an IP
        # address), its name shown by authenticators, and the page origins allowed.
        # Production has no defaults: only the operator knows the site's domain.
        self.WEBAUTHN_RP_ID = env_str("WEBAUTHN_RP_ID", self.default_webauthn_rp_id())
        self.WEBAUTHN_RP_NAME = env_str("WEBAUTHN_RP_NAME", "authsvc")
        self.WEBAUTHN_ORIGINS = env_list("WEBAUTHN_ORIGINS") or self.default_webauthn_origins()
        self._read_mail_settings()
        # Overrides (from create_app's argument) win over the environment, and
        # over what is derived from it when they name a derived key themselves.
        self.__dict__.update(overrides)
        self._derive_extension_settings()
        self.__dict__.update(overrides)
        self.SECRET_KEY_FALLBACKS = parse_list(self.SECRET_KEY_FALLBACKS)
        self.WEBAUTHN_ORIGINS = parse_list(self.WEBAUTHN_ORIGINS)

    def _read_mail_settings(self):
        self.MAIL_BACKEND = env_str("MAIL_BACKEND", self.default_mail_backend()).strip().lower()
        self.SMTP_HOST = env_str("SMTP_HOST")
        self.SMTP_PORT = env_int("SMTP_PORT", 587)
        self.SMTP_USERNAME = env_str("SMTP_USERNAME")
        self.SMTP_PASSWORD = env_str("SMTP_PASSWORD")
        self.SMTP_SECURITY = env_str("SMTP_SECURITY", "starttls").strip().lower()
        self.SMTP_TIMEOUT_SECONDS = env_float("SMTP_TIMEOUT_SECONDS", 10)
        self.MAIL_FROM = env_str("MAIL_FROM", "authsvc <no-reply@localhost>")
        self.MAIL_FILE_DIR = env_str("MAIL_FILE_DIR")
        self.FRONTEND_URL = env_str("FRONTEND_URL", "http://localhost:8000")
        self.EMAIL_VERIFICATION_REQUIRED = env_bool("EMAIL_VERIFICATION_REQUIRED", False)
        self.EMAIL_VERIFY_EXPIRE_HOURS = env_int("EMAIL_VERIFY_EXPIRE_HOURS", 24)
        self.PASSWORD_RESET_EXPIRE_MINUTES = env_int("PASSWORD_RESET_EXPIRE_MINUTES", 60)
        self.MAIL_SENDER_ENABLED = env_bool("MAIL_SENDER_ENABLED", True)
        self.MAIL_SEND_INTERVAL_SECONDS = env_float("MAIL_SEND_INTERVAL_SECONDS", 2)
        self.MAIL_BATCH_SIZE = env_int("MAIL_BATCH_SIZE", 20)
        self.MAIL_LEASE_SECONDS = env_int("MAIL_LEASE_SECONDS", 120)
        self.MAIL_RETRY_BASE_SECONDS = env_float("MAIL_RETRY_BASE_SECONDS", 30)
        self.MAIL_RETRY_MAX_SECONDS = env_float("MAIL_RETRY_MAX_SECONDS", 3600)
        self.MAIL_RETRY_HOURS = env_float("MAIL_RETRY_HOURS", 24)
        self.EMAIL_SEND_RATE_LIMIT = env_str("EMAIL_SEND_RATE_LIMIT", "10 per hour")
        self.EMAIL_TARGET_RATE_LIMIT = env_str("EMAIL_TARGET_RATE_LIMIT", "3 per hour")
        self.EMAIL_TOKEN_RATE_LIMIT = env_str("EMAIL_TOKEN_RATE_LIMIT", "10 per minute")

    @staticmethod
    def default_mail_backend():
        return "file"

    def _derive_extension_settings(self):
        """Translate the public settings into the extensions' own keys."""
        # Tokens are signed and verified by `jws` (the keyring's keys, and a
        # secret derived from SECRET_KEY), never with flask-jwt-extended's key.
        self.JWT_SECRET_KEY = None
        self.JWT_ACCESS_TOKEN_EXPIRES = timedelta(minutes=self.ACCESS_TOKEN_EXPIRE_MINUTES)
        self.JWT_REFRESH_TOKEN_EXPIRES = timedelta(days=self.REFRESH_TOKEN_EXPIRE_DAYS)
        self.JWT_TOKEN_LOCATION = ["headers"]
        self.JWT_ENCODE_ISSUER = self.JWT_DECODE_ISSUER = self.JWT_ISSUER
        self.JWT_ENCODE_AUDIENCE = self.JWT_DECODE_AUDIENCE = self.JWT_AUDIENCE
        self.JWT_DECODE_LEEWAY = 10
        self.JWT_ENCODE_NBF = False
        self.JWT_COOKIE_CSRF_PROTECT = False  # tokens travel in headers, never cookies
        # Pre-hash with SHA-256 so bcrypt never sees more than 72 bytes: no
        # truncation, and no ValueError from bcrypt 5. Must stay on for good.
        self.BCRYPT_HANDLE_LONG_PASSWORDS = True
        self.SQLALCHEMY_TRACK_MODIFICATIONS = False
        self.MAX_CONTENT_LENGTH = 64 * 1024
        self.RATELIMIT_HEADERS_ENABLED = True
        self.RATELIMIT_HEADER_RETRY_AFTER_VALUE = "delta-seconds"
        # When Redis is unreachable, limits fall back to each worker's memory:
        # still limited, and never a 500 on login.
        self.RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
        self.RATELIMIT_SWALLOW_ERRORS = True

    def validate(self):
        """Refuse settings no environment may run with (mail choices among them)."""
        if self.MAIL_BACKEND not in ("smtp", "file"):
            raise RuntimeError(f"MAIL_BACKEND must be smtp or file, not {self.MAIL_BACKEND!r}")
        if self.SMTP_SECURITY not in ("starttls", "ssl", "none"):
            raise RuntimeError(
                f"SMTP_SECURITY must be starttls, ssl or none, not {self.SMTP_SECURITY!r}"
            )
        # NIST SP 800-63B allows at most 100 consecutive failed authentication attempts.
        if not 1 <= self.MFA_LOCKOUT_THRESHOLD <= 100:
            raise RuntimeError(
                f"MFA_LOCKOUT_THRESHOLD must be 1 to 100, not {self.MFA_LOCKOUT_THRESHOLD}"
            )
        if self.JWT_ALGORITHM not in ACCESS_TOKEN_ALGORITHMS:
            raise RuntimeError(
                f"JWT_ALGORITHM must be one of {', '.join(ACCESS_TOKEN_ALGORITHMS)}, "
                f"not {self.JWT_ALGORITHM!r}"
            )
        if self.JWT_ISSUER is not None and urlsplit(self.JWT_ISSUER).scheme not in (
            "http",
            "https",
        ):
            raise RuntimeError("JWT_ISSUER must be the service's public base URL (http or https)")
        return self

    @staticmethod
    def default_issuer():
        return "http://127.0.0.1:8000"

    @staticmethod
    def default_webauthn_rp_id():
        return "localhost"

    @staticmethod
    def default_webauthn_origins():
        return ["http://localhost:8000"]

    @staticmethod
    def default_bcrypt_rounds():
        return 12


class DevelopmentConfig(Config):
    APP_ENV = "development"


class TestingConfig(Config):
    APP_ENV = "testing"
    TESTING = True

    @staticmethod
    def default_bcrypt_rounds():
        return 4


class ProductionConfig(Config):
    APP_ENV = "production"

    @staticmethod
    def default_issuer():
        return None  # required: tokens name their issuer, and only the operator knows it

    @staticmethod
    def default_webauthn_rp_id():
        return None  # required, as the origins: passkeys are bound to the site's domain

    @staticmethod
    def default_webauthn_origins():
        return []

    @staticmethod
    def default_mail_backend():
        return "smtp"

    def validate(self):
        """A real SECRET_KEY (never the development one, long enough), a JWT_ISSUER, a
        mail server for the default `smtp` backend, and a passkey relying party."""
        key = self.SECRET_KEY or ""
        if key == DEV_SECRET_KEY:
            raise RuntimeError(
                "SECRET_KEY must be set in production (the development key is refused)"
            )
        if len(key.encode()) < MIN_SECRET_KEY_BYTES:
            raise RuntimeError(
                f"SECRET_KEY must be at least {MIN_SECRET_KEY_BYTES} bytes in production"
            )
        if not self.JWT_ISSUER:
            raise RuntimeError("JWT_ISSUER must be set in production (the service's public URL)")
        if self.MAIL_BACKEND == "smtp" and not self.SMTP_HOST:
            raise RuntimeError("MAIL_BACKEND=smtp needs SMTP_HOST in production")
        self._validate_relying_party()
        return super().validate()

    def _validate_relying_party(self):
        """Named (never the localhost defaults), and such that ceremonies can succeed:
        py_webauthn compares the RP id and each origin with what the browser sends,
        character for character, so both must be written exactly as browsers write
        them. The RP id: a lowercase domain of two labels or more (or `localhost`),
        no trailing dot, no IP address (the Public Suffix List is not consulted:
        `co.uk` passes here and browsers refuse it). Each origin: `scheme://host`
        with `:port` only when not the scheme's default, lowercase, no user info,
        path, query or fragment; https (http on localhost only), on the RP id or
        under it."""
        rp_id, origins = self.WEBAUTHN_RP_ID, self.WEBAUTHN_ORIGINS
        if not rp_id or not origins:
            raise RuntimeError(
                "WEBAUTHN_RP_ID and WEBAUTHN_ORIGINS must be set in production (the domain "
                "passkeys are bound to, and the https origins of the pages that use them)"
            )
        _check_rp_id(rp_id)
        for origin in origins:
            host = _check_origin(origin)
            if host != rp_id and not host.endswith(f".{rp_id}"):
                raise RuntimeError(
                    f"WEBAUTHN_ORIGINS must be on WEBAUTHN_RP_ID ({rp_id}) or under it: {origin}"
                )


def _check_rp_id(rp_id):
    """Refuse an RP id browsers would never send (see `_validate_relying_party`)."""
    try:
        ipaddress.ip_address(rp_id.strip("[]"))
    except ValueError:
        pass
    else:
        raise RuntimeError("WEBAUTHN_RP_ID must be a domain, not an IP address")
    if rp_id != rp_id.lower() or rp_id.endswith("."):
        raise RuntimeError(
            f"WEBAUTHN_RP_ID must be written as browsers write it: lowercase, no trailing dot "
            f"({rp_id.lower().rstrip('.')}): {rp_id}"
        )
    labels = rp_id.split(".")
    if len(rp_id) > 253 or not all(DNS_LABEL.fullmatch(label) for label in labels):
        raise RuntimeError(
            f"WEBAUTHN_RP_ID must be a domain name (letters, digits, hyphens; "
            f"an internationalized one in its xn-- form): {rp_id}"
        )
    if len(labels) < 2 and rp_id != "localhost":
        raise RuntimeError(
            f"WEBAUTHN_RP_ID must have two labels or more (a top-level domain is no "
            f"site's): {rp_id}"
        )


def _check_origin(origin):
    """The origin's host, when `origin` is written exactly as a browser sends it."""
    parts = urlsplit(origin)
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise RuntimeError(f"WEBAUTHN_ORIGINS has an invalid port: {origin}")
    if "@" in parts.netloc:
        raise RuntimeError(f"WEBAUTHN_ORIGINS must not carry user info: {origin}")
    if parts.scheme != "https" and not (parts.scheme == "http" and host in LOOPBACK_HOSTS):
        raise RuntimeError(
            f"WEBAUTHN_ORIGINS must be https in production (http only on localhost): {origin}"
        )
    if parts.path or "?" in origin or "#" in origin or not host:
        raise RuntimeError(f"WEBAUTHN_ORIGINS lists a URL, not an origin: {origin}")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != DEFAULT_PORTS[parts.scheme]:
        netloc += f":{port}"
    exact = f"{parts.scheme}://{netloc}"
    if origin != exact:
        raise RuntimeError(
            "WEBAUTHN_ORIGINS must be written as browsers send them (lowercase, no default "
            f"port), or no ceremony can match: {origin} (write {exact})"
        )
    return host


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def load_config(overrides=None):
    """Build and validate the configuration class named by `APP_ENV` (or the overrides)."""
    overrides = dict(overrides or {})
    name = str(overrides.get("APP_ENV") or env_str("APP_ENV", "development")).strip().lower()
    if name not in CONFIGS:
        raise RuntimeError(f"APP_ENV must be one of {', '.join(CONFIGS)}, not {name!r}")
    overrides.pop("APP_ENV", None)
    return CONFIGS[name](overrides).validate()
