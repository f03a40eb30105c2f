"""authsvc/overrides.py: each use of a library's private parts, fenced by the pinned version.

Every override has a test that fails when the library changes under it: the
installed and pinned versions must be the reviewed ones, and the private
parts it relies on must still be there and still do what it assumes.
test_token_attacks.py holds the token attacks themselves; this file holds what
the JWT manager promises beyond them.
"""

import re
from importlib import metadata
from pathlib import Path

import flask_smorest
import pytest
from flask import Flask
from flask_jwt_extended import JWTManager as UpstreamJWTManager
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_sqlalchemy import SQLAlchemy
from jwt.api_jws import PyJWS

from authsvc.extensions import db, jwt, limiter
from authsvc.overrides import DOCS_TEMPLATES, REVIEWED_VERSIONS, JWTManager
from tests.helpers import INVALID_TOKEN, ME, REFRESH, assert_problem, forge, make_app, now

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "requirements.txt"


@pytest.mark.parametrize("package", sorted(REVIEWED_VERSIONS))
def test_each_override_was_reviewed_against_the_pinned_version(package):
    """They touch private parts: another version must be reviewed before use."""
    reviewed = REVIEWED_VERSIONS[package]
    assert metadata.version(package) == reviewed
    pins = re.findall(
        rf"^{re.escape(package)}(?:\[[^\]]*\])?==(\S+)$", REQUIREMENTS.read_text(), re.MULTILINE
    )
    assert pins == [reviewed]


# --- 1. the one-decode JWTManager -------------------------------------------


def test_the_jwt_manager_replaces_a_method_upstream_still_calls():
    """Upstream's decode entry point is still the private method this class replaces."""
    assert callable(getattr(UpstreamJWTManager, "_decode_jwt_from_config", None))
    assert JWTManager._decode_jwt_from_config is not UpstreamJWTManager._decode_jwt_from_config
    assert isinstance(jwt, JWTManager)


@pytest.fixture
def pair(auth, user):
    return auth.login("ada")


@pytest.fixture
def token_loads(monkeypatch):
    """How many times pyjwt parses a token (each parse checks every character)."""
    calls = []
    original = PyJWS._load

    def counting(self, token):
        calls.append(token)
        return original(self, token)

    monkeypatch.setattr(PyJWS, "_load", counting)
    return calls


def test_an_authenticated_request_parses_its_token_three_times_then_once(client, pair, token_loads):
    headers = {"Authorization": f"Bearer {pair['access_token']}"}
    assert client.get(ME, headers=headers).status_code == 200
    # The header (to choose the key), one verified decode, and the header
    # flask-jwt-extended reads for its callbacks (upstream: five).
    assert len(token_loads) == 3
    token_loads.clear()
    # Verified before: only flask-jwt-extended's header read is left.
    assert client.get(ME, headers=headers).status_code == 200
    assert len(token_loads) == 1


def test_a_refresh_parses_the_presented_token_once(client, pair, token_loads):
    response = client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
    assert response.status_code == 200
    # The header (HS256: the refresh secret verifies it), then one verified decode.
    assert token_loads.count(pair["refresh_token"]) == 2


def test_claims_are_judged_only_once_the_signature_is_good(client, pair):
    """A forgery lacking claims is refused for its signature, never read for its claims."""
    forged = forge(pair["access_token"], key="x" * 48, drop=("sid", "type"))
    body = assert_problem(
        client.get(ME, headers={"Authorization": f"Bearer {forged}"}), 401, INVALID_TOKEN
    )
    assert body["detail"] == "Invalid token: Signature verification failed"


def test_a_signed_token_missing_a_required_claim_is_named(client, pair):
    """Upstream would fill in a missing `jti` or `type`; authsvc refuses the token."""
    for claim in ("jti", "type"):
        forged = forge(pair["access_token"], drop=(claim,))
        body = assert_problem(
            client.get(ME, headers={"Authorization": f"Bearer {forged}"}), 401, INVALID_TOKEN
        )
        assert body["detail"] == f"Invalid token: Missing claim: {claim}"


def test_an_expired_token_reaches_the_expired_callback(client, pair):
    expired = forge(pair["access_token"], exp=now() - 60)
    body = assert_problem(
        client.get(ME, headers={"Authorization": f"Bearer {expired}"}), 401, INVALID_TOKEN
    )
    assert body["detail"] == "Token has expired"


def test_no_decode_key_loader_can_be_registered():
    """One key verifies every token; a key chosen from unverified claims is not supported."""
    with pytest.raises(NotImplementedError):
        jwt.decode_key_loader(lambda header, claims: "key")


def test_without_a_registered_claims_check_no_token_passes(app, pair):
    """Fail closed: a manager nobody gave a claims check refuses to decode."""
    bare = JWTManager()
    with app.app_context(), pytest.raises(RuntimeError, match="claims_check"):
        bare._decode_jwt_from_config(pair["access_token"])


@pytest.mark.parametrize("locations", [["headers", "cookies"], "cookies", ["query_string"]])
def test_tokens_from_anywhere_but_the_header_are_refused_at_start_up(database_url, locations):
    with pytest.raises(RuntimeError, match="Authorization header only"):
        make_app(database_url, JWT_TOKEN_LOCATION=locations)


# --- 2. Flask-Limiter's app-wide check, removed -------------------------------


def test_flask_limiter_still_adds_the_app_wide_check_that_authsvc_removes():
    """The hook removed is the one Flask-Limiter registers (else removal silently does nothing)."""
    bare = Flask(__name__)
    bare.config.update(RATELIMIT_STORAGE_URI="memory://")
    upstream = Limiter(key_func=get_remote_address)
    upstream.init_app(bare)
    assert upstream._check_request_limit in bare.before_request_funcs[None]


@pytest.mark.parametrize("app_settings", [{"RATELIMIT_ENABLED": True}])
def test_the_app_runs_no_app_wide_limit_check_yet_limits_its_views(client, app, app_settings):
    assert limiter._check_request_limit not in app.before_request_funcs.get(None, [])
    # Positive control: the per-view limit still answers 429 once spent.
    app.config["LOGIN_RATE_LIMIT"] = "2 per minute"
    body = {"username": "nobody", "password": "wrong-password-1"}
    statuses = [client.post("/api/v1/auth/login", json=body).status_code for _ in range(3)]
    assert statuses == [401, 401, 429]


# --- 3. the docs pages' templates, shadowing flask-smorest's -------------------


@pytest.mark.parametrize("name", DOCS_TEMPLATES)
def test_the_docs_templates_shadow_flask_smorest_pages_of_the_same_name(app, name):
    upstream = Path(flask_smorest.__file__).parent / "spec" / "templates" / name
    assert upstream.is_file(), f"flask-smorest no longer renders {name}"
    source, filename, _uptodate = app.jinja_loader.get_source(app.jinja_env, name)
    assert Path(filename) == ROOT / "authsvc" / "templates" / name
    with app.app_context():
        loaded = app.jinja_env.get_template(name)
    assert Path(loaded.filename) == ROOT / "authsvc" / "templates" / name
    # The context variables the pages use are still the ones flask-smorest passes.
    upstream_source = upstream.read_text()
    for variable in set(re.findall(r"{{\s*(\w+)\s*}}", source)):
        assert variable in upstream_source, f"{name}: flask-smorest no longer passes {variable}"


@pytest.mark.parametrize(
    ("page", "marker"), [("/docs", "swagger-init.js"), ("/redoc", "redoc-init.js")]
)
def test_the_docs_pages_are_rendered_from_authsvc_templates(client, page, marker):
    html = client.get(page).get_data(as_text=True)
    assert marker in html
    assert "cdn" not in html.lower()


# --- 4. the session teardown ------------------------------------------------


def test_the_session_teardown_replaces_flask_sqlalchemys_own(database_url):
    """Its private teardown is still what init_app registers, and authsvc swaps it out."""
    app = make_app(database_url)
    funcs = app.teardown_appcontext_funcs
    assert db._teardown_session not in funcs
    assert [f.__name__ for f in funcs].count("remove_session") == 1
    bare = Flask(__name__)
    bare.config["SQLALCHEMY_DATABASE_URI"] = "sqlite://"
    SQLAlchemy().init_app(bare)
    assert [f.__name__ for f in bare.teardown_appcontext_funcs] == ["_teardown_session"]
