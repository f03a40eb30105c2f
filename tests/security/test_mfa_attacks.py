"""Attacks on the second factor, each beside a positive control on the same path.

Replay (sequential and in-process concurrent), clock drift, dead and
exhausted mfa_tokens, an mfa_token used as any other credential, recovery
codes spent twice, lockout, secrets at rest, admin reset, rate limits.
"""

import logging
import threading
from datetime import timedelta

import pytest
from sqlalchemy import text

from authsvc import admin as admin_module
from authsvc.extensions import db
from tests.helpers import (
    ME,
    MFA,
    PASSWORD,
    STEP,
    bearer,
    code,
)

USERS = "/api/v1/users"
REFRESH = "/api/v1/auth/refresh"
LOCKOUT = 10  # MFA_LOCKOUT_THRESHOLD's default


def refused(reply):
    assert reply.status_code == 401, reply.get_json()
    assert reply.mimetype == "application/problem+json"
    assert reply.headers["WWW-Authenticate"] == "Bearer"
    return reply.get_json()["detail"]


# --- replay ------------------------------------------------------------------


def test_a_code_works_once(mfa, user):
    enrolled = mfa.enable(user)
    code = enrolled.code()
    assert mfa.login_with(enrolled, code).status_code == 200
    refused(mfa.login_with(enrolled, code))
    mfa.clock.shift(STEP)
    assert mfa.login_with(enrolled).status_code == 200


def test_the_confirmation_code_cannot_log_in(mfa, client, user):
    headers = bearer(mfa.tokens(user)["access_token"])
    secret = mfa.start_enrolment(headers)["secret"]
    confirmation = code(secret)
    reply = client.post(f"{MFA}/totp/confirm", json={"code": confirmation}, headers=headers)
    assert reply.status_code == 200
    token = mfa.mfa_token(user)
    refused(mfa.verify(token, confirmation))
    # Not even the step before it: only a later step is accepted.
    refused(mfa.verify(token, code(secret, -1)))
    assert mfa.verify(token, code(secret, 1)).status_code == 200


def test_an_earlier_step_is_refused_after_a_later_one(mfa, user):
    enrolled = mfa.enable(user)
    assert mfa.login_with(enrolled, enrolled.code(1)).status_code == 200
    refused(mfa.login_with(enrolled, enrolled.code(0)))
    refused(mfa.login_with(enrolled, enrolled.code(-1)))


@pytest.mark.parametrize("steps", [-1, 0, 1])
def test_one_step_of_drift_either_way_is_accepted(mfa, user, steps):
    enrolled = mfa.enable(user)
    mfa.clock.shift(STEP)  # the step before now must not be the confirmation's
    assert mfa.login_with(enrolled, enrolled.code(steps)).status_code == 200


@pytest.mark.parametrize("steps", [-3, -2, 2, 3])
def test_two_steps_of_drift_are_refused(mfa, user, steps):
    enrolled = mfa.enable(user)
    token = mfa.mfa_token(user)
    refused(mfa.verify(token, enrolled.code(steps)))
    assert mfa.verify(token, enrolled.code()).status_code == 200  # the token lives on


def race(count, attempt):
    """Run `attempt(i)` in `count` threads released together; return the results."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def run(index):
        barrier.wait(timeout=30)
        results[index] = attempt(index)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


RACERS = 20


def test_one_code_on_many_mfa_tokens_at_once_logs_in_once(app, mfa, user):
    enrolled = mfa.enable(user)
    tokens = [mfa.mfa_token(user) for _ in range(RACERS)]
    code = enrolled.code()
    statuses = race(
        RACERS,
        lambda i: app.test_client()
        .post("/api/v1/auth/mfa/verify", json={"mfa_token": tokens[i], "code": code})
        .status_code,
    )
    assert sorted(statuses) == [200] + [401] * (RACERS - 1)


def test_one_mfa_token_at_once_with_many_codes_logs_in_once(app, mfa, user):
    enrolled = mfa.enable(user)
    token = mfa.mfa_token(user)
    codes = [enrolled.code(-1), enrolled.code(0), enrolled.code(1), *enrolled.recovery_codes]
    statuses = race(
        len(codes),
        lambda i: app.test_client()
        .post("/api/v1/auth/mfa/verify", json={"mfa_token": token, "code": codes[i]})
        .status_code,
    )
    assert statuses.count(200) == 1 and statuses.count(401) == len(codes) - 1


def test_one_recovery_code_at_once_logs_in_once(app, mfa, user):
    enrolled = mfa.enable(user)
    tokens = [mfa.mfa_token(user) for _ in range(RACERS)]
    recovery = enrolled.recovery_codes[0]
    statuses = race(
        RACERS,
        lambda i: app.test_client()
        .post("/api/v1/auth/mfa/verify", json={"mfa_token": tokens[i], "code": recovery})
        .status_code,
    )
    assert sorted(statuses) == [200] + [401] * (RACERS - 1)
    status = mfa.client.get(MFA, headers=enrolled.headers).get_json()
    assert status["recovery_codes_remaining"] == 9


# --- the mfa_token -------------------------------------------------------------


def test_wrong_code_keeps_the_token_and_five_kill_it(mfa, user):
    enrolled = mfa.enable(user)
    token = mfa.mfa_token(user)
    for _ in range(4):
        refused(mfa.verify(token, enrolled.code(5)))
    assert mfa.verify(token, enrolled.code()).status_code == 200  # control: 4 wrong, then right

    mfa.clock.shift(STEP)
    token = mfa.mfa_token(user)
    for _ in range(5):
        refused(mfa.verify(token, enrolled.code(5)))
    refused(mfa.verify(token, enrolled.code()))


def test_the_mfa_token_dies_after_five_minutes(mfa, user):
    enrolled = mfa.enable(user)
    late = mfa.mfa_token(user)
    in_time = mfa.mfa_token(user)
    mfa.clock.shift(timedelta(minutes=5) - timedelta(seconds=1))
    assert mfa.verify(in_time, enrolled.code()).status_code == 200
    mfa.clock.shift(timedelta(seconds=1))
    refused(mfa.verify(late, enrolled.code(1)))


def test_the_mfa_token_is_single_use(mfa, user):
    enrolled = mfa.enable(user)
    token = mfa.mfa_token(user)
    assert mfa.verify(token, enrolled.code()).status_code == 200
    refused(mfa.verify(token, enrolled.code(1)))
    refused(mfa.verify(token, enrolled.recovery_codes[0]))


def test_an_unknown_or_mangled_mfa_token_is_refused_with_the_same_message(mfa, user):
    enrolled = mfa.enable(user)
    token = mfa.mfa_token(user)
    wrong_code = refused(mfa.verify(token, enrolled.code(4)))
    for forged in ("x" * 43, token[:-1], token.upper(), token + "A"):
        assert refused(mfa.verify(forged, enrolled.code())) == wrong_code
    assert mfa.verify(token, enrolled.code()).status_code == 200


def test_the_mfa_token_is_no_credential_anywhere_else(mfa, client, user):
    enrolled = mfa.enable(user)
    token = mfa.mfa_token(user)
    assert client.get(ME, headers=bearer(token)).status_code == 401
    assert client.get(MFA, headers=bearer(token)).status_code == 401
    assert client.post(REFRESH, json={"refresh_token": token}).status_code == 401
    assert client.post(REFRESH, headers=bearer(token)).status_code == 401
    assert client.post("/api/v1/auth/logout-all", headers=bearer(token)).status_code == 401
    assert client.get(ME, headers=enrolled.headers).status_code == 200  # control
    assert mfa.verify(token, enrolled.code()).status_code == 200  # and it still works here


def test_a_deactivated_user_cannot_finish_the_login(mfa, client, user, admin):
    enrolled = mfa.enable(user)
    token = mfa.mfa_token(user)
    admin_headers = bearer(mfa.tokens(admin)["access_token"])
    client.patch(f"{USERS}/{user['id']}", json={"is_active": False}, headers=admin_headers)
    refused(mfa.verify(token, enrolled.code()))


NEW_PASSWORD = "a-brand-new-passphrase"


def mfa_token_for(mfa, user, password):
    reply = mfa.login(user, password)
    assert reply.status_code == 403, reply.get_json()
    return reply.get_json()["mfa_token"]


@pytest.mark.parametrize("method", ["patch", "put"])
@pytest.mark.parametrize(
    "change, ended",
    [
        ({"password": NEW_PASSWORD, "current_password": PASSWORD}, True),
        ({"full_name": "Ada King"}, False),  # control: no password change
    ],
)
def test_a_password_change_ends_mfa_logins_begun_before_it(
    mfa, client, user, method, change, ended
):
    enrolled = mfa.enable(user)
    stolen = mfa.mfa_token(user)  # an attacker with the password, waiting for a code
    reply = getattr(client, method)(ME, json=change, headers=enrolled.headers)
    assert reply.status_code == 200, reply.get_json()
    if not ended:
        assert mfa.verify(stolen, enrolled.code()).status_code == 200
        return
    refused(mfa.verify(stolen, enrolled.code()))
    # The refusal is the token's: the same code finishes a login begun after the change.
    fresh = mfa_token_for(mfa, user, NEW_PASSWORD)
    assert mfa.verify(fresh, enrolled.code()).status_code == 200


def test_an_admins_password_change_ends_mfa_logins_begun_before_it(
    mfa, client, user, admin, make_user
):
    enrolled = mfa.enable(user)
    other = mfa.enable(make_user("bob"))
    stolen = mfa.mfa_token(user)
    untouched = mfa.mfa_token(other.user)  # control: another user's pending login
    admin_headers = bearer(mfa.tokens(admin)["access_token"])
    reply = client.patch(
        f"{USERS}/{user['id']}", json={"password": NEW_PASSWORD}, headers=admin_headers
    )
    assert reply.status_code == 200, reply.get_json()
    refused(mfa.verify(stolen, enrolled.code()))
    assert mfa.verify(untouched, other.code()).status_code == 200
    fresh = mfa_token_for(mfa, user, NEW_PASSWORD)
    assert mfa.verify(fresh, enrolled.code()).status_code == 200


def admin_ends_sessions(client, enrolled, admin_headers):
    reply = client.delete(f"{USERS}/{enrolled.user['id']}/sessions", headers=admin_headers)
    assert reply.status_code == 200, reply.get_json()


def user_logs_out_everywhere(client, enrolled, admin_headers):
    reply = client.post("/api/v1/auth/logout-all", headers=enrolled.headers)
    assert reply.status_code == 200, reply.get_json()


def admin_deactivates_then_reactivates(client, enrolled, admin_headers):
    for active in (False, True):
        reply = client.patch(
            f"{USERS}/{enrolled.user['id']}", json={"is_active": active}, headers=admin_headers
        )
        assert reply.status_code == 200, reply.get_json()


def admin_deactivates_then_seed_admin_reactivates(client, enrolled, admin_headers):
    user = enrolled.user
    reply = client.patch(f"{USERS}/{user['id']}", json={"is_active": False}, headers=admin_headers)
    assert reply.status_code == 200, reply.get_json()
    with client.application.app_context():
        admin_module.seed_admin(user["email"], user["username"])


@pytest.mark.parametrize(
    "end_everything",
    [
        admin_ends_sessions,
        user_logs_out_everywhere,
        admin_deactivates_then_reactivates,
        admin_deactivates_then_seed_admin_reactivates,
    ],
)
def test_ending_every_session_ends_mfa_logins_begun_before_it(
    mfa, client, user, admin, make_user, end_everything
):
    enrolled = mfa.enable(user)
    other = mfa.enable(make_user("bob"))
    stolen = mfa.mfa_token(user)  # an attacker with the password, waiting for a code
    untouched = mfa.mfa_token(other.user)  # control: another user's pending login
    admin_headers = bearer(mfa.tokens(admin)["access_token"])
    end_everything(client, enrolled, admin_headers)
    refused(mfa.verify(stolen, enrolled.code()))
    assert mfa.verify(untouched, other.code()).status_code == 200
    # The refusal is the token's: the same code finishes a login begun after.
    assert mfa.verify(mfa.mfa_token(user), enrolled.code()).status_code == 200


# --- recovery codes and lockout ----------------------------------------------------


def test_a_recovery_code_works_once_in_any_typing(mfa, user):
    enrolled = mfa.enable(user)
    first, second = enrolled.recovery_codes[:2]
    assert mfa.login_with(enrolled, first).status_code == 200
    refused(mfa.login_with(enrolled, first))
    typed = second.lower().replace("-", " ").replace("0", "o")
    assert mfa.login_with(enrolled, typed).status_code == 200


def test_wrong_codes_lock_totp_until_a_recovery_code(mfa, client, user):
    enrolled = mfa.enable(user)
    for attempt in range(LOCKOUT):
        if attempt % 5 == 0:
            token = mfa.mfa_token(user)
        refused(mfa.verify(token, enrolled.code(7)))
    locked = refused(mfa.login_with(enrolled))
    assert "locked" in locked
    assert mfa.login_with(enrolled, enrolled.recovery_codes[0]).status_code == 200
    assert mfa.login_with(enrolled).status_code == 200  # unlocked


def test_a_right_code_resets_the_count_of_wrong_ones(mfa, user):
    enrolled = mfa.enable(user)
    for _ in range(2):
        for attempt in range(LOCKOUT - 1):
            if attempt % 4 == 0:
                token = mfa.mfa_token(user)
            refused(mfa.verify(token, enrolled.code(7)))
        assert mfa.verify(token, enrolled.code()).status_code == 200
        mfa.clock.shift(STEP)


def test_admin_reset_unlocks_and_ends_every_session(mfa, client, user, admin):
    enrolled = mfa.enable(user)
    first = mfa.login_with(enrolled).get_json()
    for attempt in range(LOCKOUT):
        if attempt % 5 == 0:
            token = mfa.mfa_token(user)
        refused(mfa.verify(token, enrolled.code(7)))
    admin_headers = bearer(mfa.tokens(admin)["access_token"])
    user_headers = bearer(first["access_token"])
    assert client.delete(f"{USERS}/{user['id']}/mfa", headers=user_headers).status_code == 403
    assert client.delete(f"{USERS}/999999/mfa", headers=admin_headers).status_code == 404
    reply = client.delete(f"{USERS}/{user['id']}/mfa", headers=admin_headers)
    assert reply.status_code == 204
    assert client.get(ME, headers=user_headers).status_code == 401
    assert client.get(ME, headers=enrolled.headers).status_code == 401
    assert client.post(REFRESH, json={"refresh_token": first["refresh_token"]}).status_code == 401
    assert client.delete(f"{USERS}/{user['id']}/mfa", headers=admin_headers).status_code == 409
    assert mfa.login(user).status_code == 200  # the password alone again


def test_admin_reset_is_audited(mfa, client, user, admin, caplog):
    caplog.set_level(logging.INFO, logger="authsvc.audit")
    mfa.enable(user)
    admin_headers = bearer(mfa.tokens(admin)["access_token"])
    client.delete(f"{USERS}/{user['id']}/mfa", headers=admin_headers)
    records = [r for r in caplog.records if getattr(r, "event", "") == "admin.user.mfa_reset"]
    assert len(records) == 1
    assert records[0].user_id == user["id"] and records[0].actor_id == admin["id"]


# --- secrets at rest ------------------------------------------------------------


def all_stored_text(app):
    """Every value of every row of every table, as text."""
    with app.app_context():
        values = []
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(text(f"SELECT * FROM {table.name}")):
                values.extend(str(value) for value in row)
        return "\n".join(values)


def test_nothing_stored_equals_the_secret_a_code_or_an_mfa_token(app, mfa, user, caplog):
    caplog.set_level(logging.DEBUG)
    enrolled = mfa.enable(user)
    token = mfa.mfa_token(user)
    stored = all_stored_text(app)
    assert "totp_factors" in {t.name for t in db.metadata.sorted_tables}
    secrets = [enrolled.secret, enrolled.secret.lower(), token]
    for recovery in enrolled.recovery_codes:
        secrets += [recovery, recovery.replace("-", "")]
    for secret in secrets:
        assert secret not in stored
        assert secret not in caplog.text
    assert str(user["id"]) in stored  # control: the scan does see the rows


def test_the_secret_is_never_returned_after_enrolment(mfa, client, user):
    enrolled = mfa.enable(user)
    for path in (MFA, ME, f"{USERS}/{user['id']}"):
        body = client.get(path, headers=enrolled.headers).get_data(as_text=True)
        assert enrolled.secret not in body and "secret" not in body
    assert client.get("/api/v1/auth/mfa", headers=enrolled.headers).status_code == 200


def test_a_user_cannot_see_or_touch_another_users_mfa(mfa, client, user, make_user):
    enrolled = mfa.enable(user)
    other = make_user("eve")
    headers = bearer(mfa.tokens(other)["access_token"])
    assert client.get(MFA, headers=headers).get_json()["mfa_enabled"] is False
    body = {"current_password": PASSWORD, "code": enrolled.recovery_codes[0]}
    assert client.delete("/api/v1/auth/mfa/totp", json=body, headers=headers).status_code == 409
    assert client.delete(f"{USERS}/{user['id']}/mfa", headers=headers).status_code == 403
    assert mfa.login_with(enrolled, enrolled.recovery_codes[0]).status_code == 200
