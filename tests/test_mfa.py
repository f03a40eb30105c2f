"""MFA through the API: enrol, confirm, the two-step login, disable, recovery codes."""

import base64
import re
from urllib.parse import parse_qs, unquote, urlsplit

import jwt as pyjwt
import pytest
from sqlalchemy import func, select

from authsvc.extensions import db
from authsvc.models import LoginSession
from tests.helpers import (
    CONFIRM,
    LOGIN,
    ME,
    MFA,
    MFA_REQUIRED,
    PASSWORD,
    RECOVERY_CODES,
    STEP,
    TOTP,
    bearer,
    code,
)

RECOVERY_FORMAT = re.compile(r"[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}")


def assert_problem(reply, status):
    assert reply.status_code == status, reply.get_data(as_text=True)
    assert reply.mimetype == "application/problem+json"
    return reply.get_json()


def session_count(app):
    with app.app_context():
        return db.session.execute(select(func.count(LoginSession.id))).scalar_one()


def test_enrolment_returns_secret_uri_and_qr_and_stays_pending(mfa, client, user):
    headers = bearer(mfa.tokens(user)["access_token"])
    body = mfa.start_enrolment(headers)
    assert set(body) == {"secret", "otpauth_uri", "qr_svg"}
    assert len(base64.b32decode(body["secret"])) == 20  # 160 bits
    uri = urlsplit(body["otpauth_uri"])
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert unquote(uri.path) == "/authsvc:ada@example.com"
    query = parse_qs(uri.query)
    assert query["secret"] == [body["secret"]] and query["issuer"] == ["authsvc"]
    assert body["qr_svg"].startswith("<svg") and body["qr_svg"].endswith("</svg>")
    status = client.get(MFA, headers=headers).get_json()
    assert status == {
        "mfa_enabled": False,
        "pending": True,
        "totp_locked": False,
        "recovery_codes_remaining": 0,
    }
    assert client.get(ME, headers=headers).get_json()["mfa_enabled"] is False
    # Pending is not on: the password alone still logs in.
    assert mfa.login(user).status_code == 200


def test_enrolment_needs_the_current_password(mfa, client, user):
    headers = bearer(mfa.tokens(user)["access_token"])
    reply = client.post(TOTP, json={"current_password": "wrong-password-1"}, headers=headers)
    assert assert_problem(reply, 400)["detail"] == "Current password is incorrect"
    assert client.get(MFA, headers=headers).get_json()["pending"] is False
    assert client.post(TOTP, json={}, headers=headers).status_code == 422
    assert client.post(TOTP, json={"current_password": PASSWORD}).status_code == 401


def test_a_new_enrolment_replaces_the_pending_one(mfa, client, user):
    headers = bearer(mfa.tokens(user)["access_token"])
    first = mfa.start_enrolment(headers)["secret"]
    second = mfa.start_enrolment(headers)["secret"]
    assert first != second
    assert_problem(client.post(CONFIRM, json={"code": code(first)}, headers=headers), 400)
    assert client.post(CONFIRM, json={"code": code(second)}, headers=headers).status_code == 200


def test_confirm_turns_mfa_on_returns_codes_once_and_ends_other_sessions(mfa, client, user):
    other = mfa.tokens(user)
    headers = bearer(mfa.tokens(user)["access_token"])
    secret = mfa.start_enrolment(headers)["secret"]
    assert_problem(client.post(CONFIRM, json={"code": code(secret, 3)}, headers=headers), 400)
    assert client.get(ME, headers=bearer(other["access_token"])).status_code == 200

    reply = client.post(CONFIRM, json={"code": code(secret)}, headers=headers)
    assert reply.status_code == 200
    codes = reply.get_json()["recovery_codes"]
    assert len(codes) == len(set(codes)) == 10
    assert all(RECOVERY_FORMAT.fullmatch(c) for c in codes)
    me = client.get(ME, headers=headers)
    assert me.status_code == 200 and me.get_json()["mfa_enabled"] is True
    assert client.get(ME, headers=bearer(other["access_token"])).status_code == 401
    refresh = client.post("/api/v1/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert refresh.status_code == 401
    status = client.get(MFA, headers=headers).get_json()
    assert status["mfa_enabled"] and status["recovery_codes_remaining"] == 10
    # Once on, neither confirm nor a new enrolment is possible.
    assert_problem(client.post(CONFIRM, json={"code": code(secret, 1)}, headers=headers), 409)
    assert_problem(client.post(TOTP, json={"current_password": PASSWORD}, headers=headers), 409)


def test_confirm_without_pending_factor_is_409(mfa, client, user):
    headers = bearer(mfa.tokens(user)["access_token"])
    assert_problem(client.post(CONFIRM, json={"code": "123456"}, headers=headers), 409)


def test_password_login_of_mfa_user_opens_no_session_and_answers_mfa_required(mfa, app, user):
    enrolled = mfa.enable(user)
    before = session_count(app)
    body = assert_problem(mfa.login(user), 403)
    assert body["type"] == MFA_REQUIRED
    assert body["methods"] == ["totp", "recovery_code"]
    assert isinstance(body["mfa_token"], str) and len(body["mfa_token"]) >= 43
    assert "access_token" not in body and "refresh_token" not in body
    assert session_count(app) == before
    # The OAuth2 form login (Swagger UI's Authorize) gets the same answer.
    form = {"grant_type": "password", "username": "ada", "password": PASSWORD}
    form_body = assert_problem(mfa.client.post(LOGIN, data=form), 403)
    assert form_body["type"] == MFA_REQUIRED and form_body["mfa_token"] != body["mfa_token"]
    assert session_count(app) == before
    # A wrong password says nothing about MFA.
    wrong = assert_problem(mfa.login(user, password="wrong-password-1"), 401)
    assert "mfa_token" not in wrong
    assert mfa.verify(body["mfa_token"], enrolled.code()).status_code == 200


def test_verify_returns_tokens_with_mfa_amr_that_refresh_keeps(mfa, client, user):
    enrolled = mfa.enable(user)
    reply = mfa.login_with(enrolled)
    assert reply.status_code == 200, reply.get_json()
    pair = reply.get_json()
    assert set(pair) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert reply.headers["Cache-Control"] == "no-store"
    claims = pyjwt.decode(pair["access_token"], options={"verify_signature": False})
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    assert client.get(ME, headers=bearer(pair["access_token"])).status_code == 200
    refreshed = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refreshed.status_code == 200
    again = pyjwt.decode(refreshed.get_json()["access_token"], options={"verify_signature": False})
    assert again["amr"] == ["pwd", "otp", "mfa"]


def test_a_password_login_without_mfa_has_pwd_amr(mfa, user):
    claims = pyjwt.decode(mfa.tokens(user)["access_token"], options={"verify_signature": False})
    assert claims["amr"] == ["pwd"]


def test_disable_needs_password_and_code_and_ends_other_sessions(mfa, client, user):
    enrolled = mfa.enable(user)
    other = mfa.login_with(enrolled).get_json()
    mfa.clock.shift(STEP)
    current = mfa.login_with(enrolled).get_json()
    headers = bearer(current["access_token"])
    mfa.clock.shift(STEP)
    wrong_password = {"current_password": "wrong-password-1", "code": enrolled.code()}
    assert_problem(client.delete(TOTP, json=wrong_password, headers=headers), 400)
    wrong_code = {"current_password": PASSWORD, "code": enrolled.code(-3)}
    assert_problem(client.delete(TOTP, json=wrong_code, headers=headers), 400)
    assert client.get(ME, headers=bearer(other["access_token"])).status_code == 200

    right = {"current_password": PASSWORD, "code": enrolled.code()}
    assert client.delete(TOTP, json=right, headers=headers).status_code == 204
    assert client.get(ME, headers=bearer(other["access_token"])).status_code == 401
    me = client.get(ME, headers=headers)
    assert me.status_code == 200 and me.get_json()["mfa_enabled"] is False
    assert client.get(MFA, headers=headers).get_json()["recovery_codes_remaining"] == 0
    assert mfa.login(user).status_code == 200
    mfa.clock.shift(STEP)
    again = {"current_password": PASSWORD, "code": enrolled.code()}
    assert_problem(client.delete(TOTP, json=again, headers=headers), 409)


def test_disable_with_a_recovery_code(mfa, client, user):
    enrolled = mfa.enable(user)
    body = {"current_password": PASSWORD, "code": enrolled.recovery_codes[0]}
    assert client.delete(TOTP, json=body, headers=enrolled.headers).status_code == 204


def test_regenerate_needs_totp_and_voids_the_old_set(mfa, client, user):
    enrolled = mfa.enable(user)
    headers = enrolled.headers
    by_recovery = {"code": enrolled.recovery_codes[0]}
    assert_problem(client.post(RECOVERY_CODES, json=by_recovery, headers=headers), 400)
    assert_problem(client.post(RECOVERY_CODES, json={"code": "000000"}, headers=headers), 400)
    reply = client.post(RECOVERY_CODES, json={"code": enrolled.code()}, headers=headers)
    assert reply.status_code == 200
    fresh = reply.get_json()["recovery_codes"]
    assert len(fresh) == 10 and not set(fresh) & set(enrolled.recovery_codes)
    assert mfa.login_with(enrolled, enrolled.recovery_codes[1]).status_code == 401
    assert mfa.login_with(enrolled, fresh[0]).status_code == 200
    assert client.get(MFA, headers=headers).get_json()["recovery_codes_remaining"] == 9


def test_regenerate_and_disable_are_409_without_mfa(mfa, client, user):
    headers = bearer(mfa.tokens(user)["access_token"])
    assert_problem(client.post(RECOVERY_CODES, json={"code": "123456"}, headers=headers), 409)
    body = {"current_password": PASSWORD, "code": "123456"}
    assert_problem(client.delete(TOTP, json=body, headers=headers), 409)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"code": 123456},
        {"code": "1" * 65},
        {"code": "123456", "is_admin": True},
        {"code": "12\x003456"},
    ],
)
def test_bad_code_bodies_are_422_and_change_nothing(mfa, client, user, body):
    enrolled = mfa.enable(user)
    reply = client.post(RECOVERY_CODES, json=body, headers=enrolled.headers)
    assert_problem(reply, 422)
    assert client.get(MFA, headers=enrolled.headers).get_json()["recovery_codes_remaining"] == 10


def test_second_factor_passes_spends_a_code_for_a_reset(app, mfa, user, make_user):
    """The check a password reset of an MFA account makes (`mfa_code`)."""
    from authsvc.extensions import db as database
    from authsvc.mfa import second_factor_passes
    from authsvc.models import User

    enrolled = mfa.enable(user)
    plain = make_user("bob")
    with app.test_request_context():
        ada = database.session.get(User, user["id"])
        assert second_factor_passes(database.session.get(User, plain["id"]), None)
        assert not second_factor_passes(ada, None)
        assert not second_factor_passes(ada, enrolled.code(5))
        code_now = enrolled.code()
        assert second_factor_passes(ada, code_now)
        database.session.commit()
        assert not second_factor_passes(ada, code_now)  # spent
        recovery = enrolled.recovery_codes[0]
        assert second_factor_passes(ada, recovery)
        database.session.rollback()  # the caller failed later: nothing spent
        assert second_factor_passes(ada, recovery)
        database.session.commit()
    assert mfa.login_with(enrolled, recovery).status_code == 401
