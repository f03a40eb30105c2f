"""Configuration: environment, `.env`, production safety."""

import pytest

from authsvc import create_app
from config import DEV_SECRET_KEY, env_list, load_config


def test_production_refuses_development_secret_key(database_url):
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(
            {
                "APP_ENV": "production",
                "SECRET_KEY": DEV_SECRET_KEY,
                "SQLALCHEMY_DATABASE_URI": database_url,
            }
        )


def test_production_refuses_short_secret_key(database_url):
    with pytest.raises(RuntimeError, match="32 bytes"):
        create_app(
            {
                "APP_ENV": "production",
                "SECRET_KEY": "short",
                "SQLALCHEMY_DATABASE_URI": database_url,
            }
        )


def test_production_starts_with_a_real_key(database_url):
    app = create_app(
        {"APP_ENV": "production", "SECRET_KEY": "k" * 48, "SQLALCHEMY_DATABASE_URI": database_url}
    )
    assert app.config["JWT_SECRET_KEY"] == "k" * 48
    assert app.config["BCRYPT_LOG_ROUNDS"] == 12


def test_unknown_app_env_is_refused():
    with pytest.raises(RuntimeError, match="APP_ENV"):
        create_app({"APP_ENV": "staging"})


def test_settings_come_from_environment(monkeypatch, database_url):
    monkeypatch.setenv("ACCESS_TOKEN_EXPIRE_MINUTES", "5")
    monkeypatch.setenv("BACKEND_CORS_ORIGINS", '["http://a.example", "http://b.example"]')
    app = create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": database_url})
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


def test_the_config_validates_itself_before_any_app_is_built():
    """The production check is the config's own step: load_config refuses a weak key."""
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        load_config({"APP_ENV": "production", "SECRET_KEY": DEV_SECRET_KEY})
    assert load_config({"APP_ENV": "production", "SECRET_KEY": "k" * 32}).SECRET_KEY == "k" * 32
    # Development and testing run with the development key.
    assert load_config({"APP_ENV": "development"}).SECRET_KEY


def test_no_dead_settings():
    assert not hasattr(load_config({"APP_ENV": "testing"}), "JSON_SORT_KEYS")
