"""POST /oauth/introspect and /oauth/revoke: the introspection matrix, client auth, revocation."""

import base64
import time

import pytest
from sqlalchemy import update

from authsvc import clients, keys
from authsvc.extensions import db, limiter
from authsvc.keyring import keyring
from authsvc.models import LoginSession, User
from tests.helpers import PASSWORD

INTROSPECT = "/oauth/introspect"
REVOKE = "/oauth/revoke"
ME = "/api/v1/users/me"
ACTIVE_MEMBERS = {
    "active",
    "sub",
    "sid",
    "exp",
    "iat",
    "iss",
    "aud",
    "jti",
    "token_type",
    "username",
    "amr",
}


@pytest.fixture
def credentials(app):
    with app.app_context():
        return clients.create("orders service")


def basic(client_id, secret):
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


@pytest.fixture
def introspect(client, credentials):
    def call(token, **form):
        data = {"token": token, **form} if token is not None else form
        return client.post(INTROSPECT, data=data, headers=basic(*credentials))

    return call


@pytest.fixture
def pair(auth, user):
    return auth.login(user["username"], user["password"])


def assert_inactive(response):
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"active": False}
    assert response.headers["Cache-Control"] == "no-store"


def test_a_live_access_token_is_active(app, introspect, pair, user):
    reply = introspect(pair["access_token"], token_type_hint="access_token")
    assert reply.status_code == 200
    body = reply.get_json()
    assert set(body) == ACTIVE_MEMBERS
    assert body["active"] is True and body["token_type"] == "access_token"
    assert body["sub"] == str(user["id"]) and body["username"] == user["username"]
    assert body["iss"] == app.config["JWT_ISSUER"] and body["aud"] == app.config["JWT_AUDIENCE"]
    assert body["amr"] == ["pwd"] and body["exp"] > time.time() > body["iat"] - 5
    assert reply.headers["Cache-Control"] == "no-store"


def test_a_live_refresh_token_is_active_until_rotated(client, introspect, pair):
    body = introspect(pair["refresh_token"]).get_json()
    assert body["active"] is True and body["token_type"] == "refresh_token"
    refreshed = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refreshed.status_code == 200
    assert_inactive(introspect(pair["refresh_token"]))
    assert introspect(refreshed.get_json()["refresh_token"]).get_json()["active"] is True


def test_the_hint_is_only_a_hint(introspect, pair):
    for hint in ("refresh_token", "access_token", "nonsense"):
        assert introspect(pair["access_token"], token_type_hint=hint).get_json()["active"]


def test_inactive_after_logout(client, introspect, pair):
    assert introspect(pair["access_token"]).get_json()["active"]  # control
    client.post("/api/v1/auth/logout", json={"refresh_token": pair["refresh_token"]})
    assert_inactive(introspect(pair["access_token"]))
    assert_inactive(introspect(pair["refresh_token"]))


def test_inactive_after_logout_all(client, auth, introspect, pair, user):
    other = auth.login(user["username"], user["password"])
    assert introspect(other["access_token"]).get_json()["active"]  # control
    client.post("/api/v1/auth/logout-all", headers=auth.bearer(pair["access_token"]))
    for token in (pair["access_token"], other["access_token"], other["refresh_token"]):
        assert_inactive(introspect(token))


@pytest.mark.parametrize("change", ["deactivate", "delete"])
def test_inactive_for_a_deactivated_or_deleted_user(app, introspect, pair, user, change):
    assert introspect(pair["access_token"]).get_json()["active"]  # control
    with app.app_context():
        if change == "deactivate":
            db.session.execute(update(User).where(User.id == user["id"]).values(is_active=False))
        else:
            db.session.delete(db.session.get(User, user["id"]))
        db.session.commit()
    assert_inactive(introspect(pair["access_token"]))
    assert_inactive(introspect(pair["refresh_token"]))


def test_inactive_once_expired(app, introspect, pair):
    assert introspect(pair["access_token"]).get_json()["active"]  # control
    app.config["JWT_DECODE_LEEWAY"] = 0
    with app.app_context():  # the session expired; an expired session's tokens expire with it
        db.session.execute(update(LoginSession).values(expires_at=LoginSession.created_at))
        db.session.commit()
    assert_inactive(introspect(pair["refresh_token"]))
    assert_inactive(introspect(pair["access_token"]))


def test_inactive_once_the_signing_key_is_revoked(app, introspect, pair, auth, user):
    assert introspect(pair["access_token"]).get_json()["active"]  # control
    with app.app_context():
        ring = keyring()
        keys.revoke(ring.signing_key().kid)
        ring.loaded_at = None  # this worker's reload is due (every worker's is within a minute)
    assert_inactive(introspect(pair["access_token"]))
    assert introspect(pair["refresh_token"]).get_json()["active"]  # refresh tokens need no key
    fresh = auth.login(user["username"], user["password"])
    assert introspect(fresh["access_token"]).get_json()["active"]


@pytest.mark.parametrize(
    "token",
    ["", "x", "a.b.c", "e30.e30.", "' OR 1=1 --", "x" * 9000, "\u00e9\u00e9"],
    ids=["empty", "word", "three-parts", "none-alg", "sql", "huge", "unicode"],
)
def test_malformed_tokens_are_inactive_or_400(introspect, token):
    reply = introspect(token)
    if token == "":
        assert reply.status_code == 400 and reply.mimetype == "application/problem+json"
    else:
        assert_inactive(reply)


def test_missing_token_is_400(client, credentials):
    reply = client.post(INTROSPECT, data={}, headers=basic(*credentials))
    assert reply.status_code == 400 and reply.mimetype == "application/problem+json"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic"},
        {"Authorization": "Basic !!!"},
        {"Authorization": "Bearer abc"},
        "wrong-secret",
        "unknown-client",
        "deleted-client",
    ],
    ids=["none", "empty-basic", "garbage", "bearer", "wrong-secret", "unknown", "deleted"],
)
def test_client_credentials_are_required(app, client, credentials, pair, headers):
    client_id, secret = credentials
    if headers == "wrong-secret":
        headers = basic(client_id, secret + "x")
    elif headers == "unknown-client":
        headers = basic("rs_nobody", secret)
    elif headers == "deleted-client":
        with app.app_context():
            clients.delete_client(client_id)
        headers = basic(client_id, secret)
    reply = client.post(INTROSPECT, data={"token": pair["access_token"]}, headers=headers)
    assert reply.status_code == 401
    assert reply.mimetype == "application/problem+json"
    assert reply.headers["WWW-Authenticate"].startswith("Basic")
    assert "active" not in reply.get_json()


@pytest.fixture
def limited_settings():
    return {"RATELIMIT_ENABLED": True, "INTROSPECTION_FAILURE_RATE_LIMIT": "3 per minute"}


class TestFailuresAreRateLimited:
    @pytest.fixture
    def app_settings(self, limited_settings):
        return limited_settings

    def test_failed_client_authentications_are_limited_per_address(
        self, app, client, credentials, pair
    ):
        with app.app_context():
            limiter.reset()
        client_id, secret = credentials
        # Successes never count: a busy resource server is not throttled.
        for _ in range(10):
            reply = client.post(
                INTROSPECT, data={"token": pair["access_token"]}, headers=basic(*credentials)
            )
            assert reply.status_code == 200
        for _ in range(3):
            bad = client.post(INTROSPECT, data={"token": "x"}, headers=basic(client_id, "wrong"))
            assert bad.status_code == 401
        limited = client.post(INTROSPECT, data={"token": "x"}, headers=basic(client_id, "wrong"))
        assert limited.status_code == 429 and "Retry-After" in limited.headers
        # Another address is not affected.
        other = client.post(
            INTROSPECT,
            data={"token": pair["access_token"]},
            headers=basic(*credentials),
            environ_base={"REMOTE_ADDR": "10.9.8.7"},
        )
        assert other.status_code == 200


def test_revoke_an_access_token_ends_its_session(client, auth, introspect, pair):
    reply = client.post(REVOKE, data={"token": pair["access_token"]})
    assert reply.status_code == 200
    assert client.get(ME, headers=auth.bearer(pair["access_token"])).status_code == 401
    assert_inactive(introspect(pair["refresh_token"]))


def test_revoke_a_refresh_token_ends_its_session(client, auth, pair):
    assert client.get(ME, headers=auth.bearer(pair["access_token"])).status_code == 200
    reply = client.post(
        REVOKE, data={"token": pair["refresh_token"], "token_type_hint": "refresh_token"}
    )
    assert reply.status_code == 200
    assert client.get(ME, headers=auth.bearer(pair["access_token"])).status_code == 401
    refreshed = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refreshed.status_code == 401


@pytest.mark.parametrize("token", ["x", "a.b.c", "' OR 1=1 --"])
def test_revoke_answers_200_for_what_is_no_live_token_and_changes_nothing(
    client, auth, pair, token
):
    assert client.post(REVOKE, data={"token": token}).status_code == 200
    assert client.get(ME, headers=auth.bearer(pair["access_token"])).status_code == 200


def test_revoke_twice_is_200(client, pair):
    assert client.post(REVOKE, data={"token": pair["refresh_token"]}).status_code == 200
    assert client.post(REVOKE, data={"token": pair["refresh_token"]}).status_code == 200


def test_revoke_without_a_token_is_400(client):
    reply = client.post(REVOKE, data={})
    assert reply.status_code == 400 and reply.mimetype == "application/problem+json"


def test_another_users_token_ends_only_that_session(client, auth, make_user, pair):
    other = make_user("grace")
    other_pair = auth.login("grace", PASSWORD)
    client.post(REVOKE, data={"token": other_pair["access_token"]})
    assert client.get(ME, headers=auth.bearer(pair["access_token"])).status_code == 200
    assert client.get(ME, headers=auth.bearer(other_pair["access_token"])).status_code == 401
    assert other


@pytest.mark.parametrize("form", [{}, {"token_type_hint": "access_token"}, {"token": ""}])
def test_a_request_without_a_token_is_400_and_the_spec_says_token_is_required(
    client, credentials, pair, form
):
    """RFC 7009 §2.1 / RFC 7662 §2.1: `invalid_request`, not the 422 of other bodies."""
    for path, headers in ((REVOKE, {}), (INTROSPECT, basic(*credentials))):
        response = client.post(path, data=form, headers=headers)
        assert response.status_code == 400, (path, response.get_json())
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["detail"] == "The token parameter is required"
    # The control: the same path with a token is accepted, and the spec requires it.
    assert client.post(REVOKE, data={"token": pair["refresh_token"]}).status_code == 200
    spec = client.get("/openapi.json").get_json()
    form_schema = spec["paths"]["/oauth/revoke"]["post"]["requestBody"]["content"]
    [(_, body)] = form_schema.items()
    schema = body["schema"]
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    assert schema["required"] == ["token"]
