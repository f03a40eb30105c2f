"""Configuration: environment, `.env`, production safety."""

import pytest

from authsvc import create_app
from config import DEV_SECRET_KEY, env_list, load_config

# Apps made only to check their settings get a database of their own (in
# memory): made with another SECRET_KEY, they must leave no signing key in the
# database the other tests share.
NO_DATABASE = "sqlite://"


def test_production_refuses_development_secret_key(database_url):
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(
            {
                "APP_ENV": "production",
                "SECRET_KEY": DEV_SECRET_KEY,
                "SQLALCHEMY_DATABASE_URI": NO_DATABASE,
            }
        )


def test_production_refuses_short_secret_key(database_url):
    with pytest.raises(RuntimeError, match="32 bytes"):
        create_app(
            {
                "APP_ENV": "production",
                "SECRET_KEY": "short",
                "SQLALCHEMY_DATABASE_URI": NO_DATABASE,
            }
        )


PRODUCTION_ISSUER = "https://auth.example.com"
# Production names its passkey relying party (the localhost defaults are refused).
RELYING_PARTY = {
    "WEBAUTHN_RP_ID": "example.com",
    "WEBAUTHN_ORIGINS": "https://accounts.example.com",
}


def test_production_starts_with_a_real_key_and_an_issuer(database_url):
    app = create_app(
        {
            "APP_ENV": "production",
            "SECRET_KEY": "k" * 48,
            "JWT_ISSUER": PRODUCTION_ISSUER,
            "SQLALCHEMY_DATABASE_URI": NO_DATABASE,
            "SMTP_HOST": "mail.example",
            **RELYING_PARTY,
        }
    )
    assert app.config["JWT_SECRET_KEY"] is None  # tokens are signed by jws, not with it
    assert app.config["JWT_ISSUER"] == PRODUCTION_ISSUER
    assert app.config["JWT_ALGORITHM"] == "ES256"
    assert app.config["BCRYPT_LOG_ROUNDS"] == 12


def test_production_requires_an_issuer(database_url, monkeypatch):
    monkeypatch.delenv("JWT_ISSUER", raising=False)
    settings = {
        "APP_ENV": "production",
        "SECRET_KEY": "k" * 48,
        "SMTP_HOST": "mail.example",
        **RELYING_PARTY,
    }
    with pytest.raises(RuntimeError, match="JWT_ISSUER"):
        create_app({**settings, "SQLALCHEMY_DATABASE_URI": NO_DATABASE})
    control = {**settings, "JWT_ISSUER": PRODUCTION_ISSUER, "SQLALCHEMY_DATABASE_URI": NO_DATABASE}
    assert create_app(control)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"JWT_ALGORITHM": "HS256"}, "JWT_ALGORITHM"),
        ({"JWT_ALGORITHM": "none"}, "JWT_ALGORITHM"),
        ({"JWT_ALGORITHM": "es256"}, "JWT_ALGORITHM"),
        ({"JWT_ISSUER": "authsvc"}, "JWT_ISSUER"),
        ({"JWT_ISSUER": "file:///etc/passwd"}, "JWT_ISSUER"),
    ],
)
def test_token_settings_are_checked_in_every_environment(settings, message):
    with pytest.raises(RuntimeError, match=message):
        create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": NO_DATABASE, **settings})


@pytest.mark.parametrize("algorithm", ["ES256", "RS256", "EdDSA"])
def test_each_access_token_algorithm_is_accepted(algorithm):
    settings = {"APP_ENV": "testing", "JWT_ALGORITHM": algorithm}
    assert create_app({**settings, "SQLALCHEMY_DATABASE_URI": NO_DATABASE})


def test_unknown_app_env_is_refused():
    with pytest.raises(RuntimeError, match="APP_ENV"):
        create_app({"APP_ENV": "staging"})


def test_settings_come_from_environment(monkeypatch, database_url):
    monkeypatch.setenv("ACCESS_TOKEN_EXPIRE_MINUTES", "5")
    monkeypatch.setenv("BACKEND_CORS_ORIGINS", '["http://a.example", "http://b.example"]')
    app = create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": NO_DATABASE})
    assert app.config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds() == 300
    assert app.config["BACKEND_CORS_ORIGINS"] == ["http://a.example", "http://b.example"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("", []), ("http://a, http://b", ["http://a", "http://b"]), ('["http://a"]', ["http://a"])],
)
def test_cors_origins_json_or_comma_separated(monkeypatch, raw, expected):
    monkeypatch.setenv("BACKEND_CORS_ORIGINS", raw)
    assert env_list("BACKEND_CORS_ORIGINS") == expected


@pytest.mark.parametrize(
    ("query", "connect_args"),
    [("", {"connect_timeout": 5}), ("?connect_timeout=9", None)],
)
def test_postgresql_connect_timeout_unless_the_url_names_one(query, connect_args):
    app = create_app(
        {"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": f"postgresql+psycopg://u@h/x{query}"}
    )
    options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    assert options.get("connect_args") == connect_args
    assert options["pool_pre_ping"] and options["hide_parameters"]


def test_production_mails_over_smtp_and_refuses_to_start_without_a_host(database_url):
    production = {
        "APP_ENV": "production",
        "SECRET_KEY": "k" * 48,
        "JWT_ISSUER": PRODUCTION_ISSUER,
        **RELYING_PARTY,
    }
    with pytest.raises(RuntimeError, match="SMTP_HOST"):
        create_app({**production, "SQLALCHEMY_DATABASE_URI": database_url})
    app = create_app(
        {**production, "SQLALCHEMY_DATABASE_URI": database_url, "SMTP_HOST": "mail.example"}
    )
    assert (app.config["MAIL_BACKEND"], app.config["SMTP_SECURITY"]) == ("smtp", "starttls")
    # Files are a production choice too, made explicitly.
    explicit = {**production, "SQLALCHEMY_DATABASE_URI": database_url, "MAIL_BACKEND": "file"}
    assert create_app(explicit).config["MAIL_BACKEND"] == "file"


def test_outside_production_mail_goes_to_files(database_url):
    app = create_app({"APP_ENV": "development", "SQLALCHEMY_DATABASE_URI": database_url})
    assert app.config["MAIL_BACKEND"] == "file"
    assert app.config["EMAIL_VERIFICATION_REQUIRED"] is False
    assert (
        app.config["EMAIL_VERIFY_EXPIRE_HOURS"],
        app.config["PASSWORD_RESET_EXPIRE_MINUTES"],
    ) == (
        24,
        60,
    )


@pytest.mark.parametrize(
    ("name", "value"), [("MAIL_BACKEND", "carrier-pigeon"), ("SMTP_SECURITY", "tls")]
)
def test_a_mail_setting_out_of_its_choices_stops_the_start(monkeypatch, database_url, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(RuntimeError, match=name):
        create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": database_url})


def test_the_config_validates_itself_before_any_app_is_built():
    """The production check is the config's own step: load_config refuses a weak key."""
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        load_config({"APP_ENV": "production", "SECRET_KEY": DEV_SECRET_KEY})
    production = {
        "APP_ENV": "production",
        "SECRET_KEY": "k" * 32,
        "JWT_ISSUER": "https://a.example",
        "SMTP_HOST": "mail.example",
        **RELYING_PARTY,
    }
    assert load_config(production).SECRET_KEY == "k" * 32
    # Development and testing run with the development key.
    assert load_config({"APP_ENV": "development"}).SECRET_KEY


def test_no_dead_settings():
    assert not hasattr(load_config({"APP_ENV": "testing"}), "JSON_SORT_KEYS")


PRODUCTION = {  # all but the relying party
    "APP_ENV": "production",
    "SECRET_KEY": "k" * 48,
    "JWT_ISSUER": PRODUCTION_ISSUER,
    "SMTP_HOST": "mail.example",
}
ORIGIN = "https://accounts.example.com"


@pytest.mark.parametrize(
    ("webauthn", "refused"),
    [
        ({}, "WEBAUTHN_RP_ID and WEBAUTHN_ORIGINS must be set"),  # the localhost defaults
        ({"WEBAUTHN_RP_ID": "example.com"}, "must be set"),
        ({"WEBAUTHN_ORIGINS": ORIGIN}, "must be set"),
        (
            {"WEBAUTHN_RP_ID": "example.com", "WEBAUTHN_ORIGINS": "http://accounts.example.com"},
            "https",
        ),
        ({"WEBAUTHN_RP_ID": "example.com", "WEBAUTHN_ORIGINS": f"{ORIGIN}/login"}, "origin"),
        ({"WEBAUTHN_RP_ID": "example.com", "WEBAUTHN_ORIGINS": "https://evil.example"}, "under"),
        ({"WEBAUTHN_RP_ID": "ample.com", "WEBAUTHN_ORIGINS": ORIGIN}, "under"),
        ({"WEBAUTHN_RP_ID": "192.0.2.7", "WEBAUTHN_ORIGINS": "https://192.0.2.7"}, "IP address"),
        # Controls: a real domain (the page on a subdomain of the RP id, or on it), and
        # localhost named explicitly (a production-mode run on one machine, as the benchmark).
        ({"WEBAUTHN_RP_ID": "example.com", "WEBAUTHN_ORIGINS": ORIGIN}, None),
        ({"WEBAUTHN_RP_ID": "example.com", "WEBAUTHN_ORIGINS": "https://example.com:8443"}, None),
        ({"WEBAUTHN_RP_ID": "localhost", "WEBAUTHN_ORIGINS": "http://localhost:8000"}, None),
    ],
)
def test_production_refuses_passkey_settings_that_are_not_its_own(monkeypatch, webauthn, refused):
    """The development relying party (localhost over http) is not production's: the
    RP id and origins must be named, https (http only on localhost), each origin on
    the RP id or a subdomain of it."""
    assert_relying_party(monkeypatch, webauthn, refused)


def assert_relying_party(monkeypatch, webauthn, refused):
    """Production starts with `webauthn` (refused is None), or stops naming `refused`."""
    for name in ("WEBAUTHN_RP_ID", "WEBAUTHN_ORIGINS"):
        monkeypatch.delenv(name, raising=False)
    if refused is None:
        rp_id = load_config({**PRODUCTION, **webauthn}).WEBAUTHN_RP_ID
        assert rp_id == webauthn["WEBAUTHN_RP_ID"]
        return
    with pytest.raises(RuntimeError, match=refused):
        load_config({**PRODUCTION, **webauthn})


def relying_party(rp_id="example.com", origin=ORIGIN):
    return {"WEBAUTHN_RP_ID": rp_id, "WEBAUTHN_ORIGINS": [origin]}


@pytest.mark.parametrize(
    ("webauthn", "refused"),
    [
        # Origins py_webauthn's exact comparison with the browser's never matches:
        # browsers send scheme and host lowercase and leave the default port out.
        (relying_party(origin="https://Accounts.example.com"), "as browsers send"),
        (relying_party(origin="HTTPS://accounts.example.com"), "as browsers send"),
        (relying_party(origin="https://accounts.example.com:443"), "as browsers send"),
        (relying_party("localhost", "http://localhost:80"), "as browsers send"),
        (relying_party(origin="https://accounts.example.com:0443"), "as browsers send"),
        (relying_party(origin="https://accounts.example.com:abc"), "invalid port"),
        (relying_party(origin="https://accounts.example.com:99999"), "invalid port"),
        (relying_party(origin="https://accounts.example.com:0"), "invalid port"),
        (relying_party(origin="https://ada@accounts.example.com"), "user info"),
        (relying_party(origin="https://ada:pw@accounts.example.com"), "user info"),
        (relying_party(origin=f"{ORIGIN}?"), "not an origin"),
        (relying_party(origin=f"{ORIGIN}#"), "not an origin"),
        (relying_party(origin=f"{ORIGIN}/"), "not an origin"),
        # RP ids browsers never send or accept.
        (relying_party("Example.com"), "lowercase"),
        (relying_party("example.com."), "trailing dot"),
        (relying_party("com", "https://com"), "two labels"),
        (relying_party("intranet", "https://accounts.intranet"), "two labels"),
        (relying_party("exa_mple.com", "https://exa_mple.com"), "domain name"),
        (relying_party("example..com", "https://accounts.example..com"), "domain name"),
        # Controls: as browsers write them, a non-default port kept.
        (relying_party(), None),
        (relying_party(origin="https://accounts.example.com:8443"), None),
        (relying_party(origin="https://example.com"), None),
        (relying_party("localhost", "http://localhost:8000"), None),
        (relying_party("localhost", "https://localhost"), None),
        (relying_party("xn--bcher-kva.example", "https://xn--bcher-kva.example"), None),
        # Not refused: the Public Suffix List is not consulted (browsers refuse this one).
        (relying_party("co.uk", "https://accounts.co.uk"), None),
    ],
)
def test_production_refuses_a_relying_party_no_ceremony_could_match(monkeypatch, webauthn, refused):
    """py_webauthn compares the RP id and the origin with the browser's strings,
    character for character: an origin or RP id written otherwise than browsers
    write them passed the check at start and failed every passkey ceremony after."""
    assert_relying_party(monkeypatch, webauthn, refused)


def test_passkey_settings_from_the_environment_count_as_set(monkeypatch):
    monkeypatch.setenv("WEBAUTHN_RP_ID", "example.com")
    monkeypatch.setenv("WEBAUTHN_ORIGINS", f'["{ORIGIN}"]')
    assert load_config(PRODUCTION).WEBAUTHN_ORIGINS == [ORIGIN]
    # Outside production the development defaults stand.
    monkeypatch.delenv("WEBAUTHN_RP_ID")
    monkeypatch.delenv("WEBAUTHN_ORIGINS")
    development = load_config({"APP_ENV": "development"})
    assert (development.WEBAUTHN_RP_ID, development.WEBAUTHN_ORIGINS) == (
        "localhost",
        ["http://localhost:8000"],
    )
