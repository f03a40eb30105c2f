"""Password reset and email verification, end to end through a real SMTP server.

The app writes mail to its outbox; `deliver` runs the sender (as the service's
background thread would) against an aiosmtpd sink on 127.0.0.1, and the tests
read the tokens out of what arrived over the wire.
"""

import re
import threading
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from authsvc.extensions import db
from authsvc.mail import sender
from authsvc.models import OutboxMail, User, utcnow
from tests.helpers import LOGIN, ME, PASSWORD, REFRESH, STEP, assert_problem

AUTH = "/api/v1/auth"
FORGOT = f"{AUTH}/password/forgot"
RESET = f"{AUTH}/password/reset"
VERIFY = f"{AUTH}/email/verify"
RESEND = f"{AUTH}/email/verify/resend"
NEW_PASSWORD = "a-brand-new-passphrase"
FRONTEND = "https://app.example"
TOKEN_IN_LINK = re.compile(r"#token=([A-Za-z0-9_-]+)")


@pytest.fixture
def app_settings(sink):
    return sink.settings(
        SMTP_TIMEOUT_SECONDS=2,
        MAIL_FROM="authsvc <no-reply@auth.example>",
        FRONTEND_URL=FRONTEND,
        MAIL_RETRY_BASE_SECONDS=0,
    )


@pytest.fixture
def deliver(app):
    """Run the sender until nothing is due; return its tally."""

    def run():
        with app.app_context():
            return sender.send_pending()

    return run


def token_of(received):
    """The token in a mail: in the link's fragment, and alone on a line of the text."""
    text = received.text
    token = TOKEN_IN_LINK.search(text).group(1)
    assert token in text.splitlines()
    return token


def mails(sink, address, subject=None):
    return [
        item
        for item in sink.messages_to(address)
        if subject is None or item.message["Subject"] == subject
    ]


def reset_token(client, deliver, sink, email="ada@example.com"):
    before = len(mails(sink, email, "Reset your password"))
    assert client.post(FORGOT, json={"email": email}).status_code == 202
    deliver()
    found = mails(sink, email, "Reset your password")
    assert len(found) == before + 1
    return token_of(found[-1])


def test_forgot_then_reset_end_to_end(client, auth, user, deliver, sink):
    response = client.post(FORGOT, json={"email": "ADA@example.com"})
    assert response.status_code == 202
    assert deliver()["sent"] == 1
    (received,) = mails(sink, "ada@example.com")
    message = received.message
    assert message["To"] == "ada@example.com" and received.rcpt_tos == ["ada@example.com"]
    assert message["From"] == "authsvc <no-reply@auth.example>"
    token = token_of(received)
    assert len(token) >= 43  # 256 bits, base64url
    assert token not in message["Subject"]
    assert f"{FRONTEND}/reset-password#token={token}" in received.text

    reset = client.post(RESET, json={"token": token, "password": NEW_PASSWORD})
    assert reset.status_code == 200, reset.get_json()
    assert set(reset.get_json()) == {"message"}  # no tokens
    auth.login("ada", NEW_PASSWORD)
    assert_problem(client.post(LOGIN, json={"username": "ada", "password": PASSWORD}), 401)

    # The token is spent: a replay is refused, and the new password stays.
    replay = client.post(RESET, json={"token": token, "password": "yet-another-passphrase"})
    assert_problem(replay, 400)
    auth.login("ada", NEW_PASSWORD)

    deliver()
    assert len(mails(sink, "ada@example.com", "Your password was reset")) == 1


@pytest.mark.parametrize("case", ["unknown", "deactivated"])
def test_forgot_for_no_active_account_answers_the_same_and_sends_nothing(
    client, make_user, deliver, sink, case
):
    make_user("ada", email="ada@example.com")
    make_user("bob", email="bob@example.com", is_active=False)
    email = "nobody@example.com" if case == "unknown" else "bob@example.com"
    known = client.post(FORGOT, json={"email": "ada@example.com"})
    other = client.post(FORGOT, json={"email": email})
    assert (other.status_code, other.get_json()) == (known.status_code, known.get_json())
    assert sorted(other.headers.keys()) == sorted(known.headers.keys())
    tally = deliver()
    assert (tally["sent"], tally["skipped"]) == (1, 1)
    assert mails(sink, email) == []
    assert len(mails(sink, "ada@example.com")) == 1


def test_reset_ends_every_session_at_once(client, auth, user, deliver, sink):
    first = auth.login("ada")
    second = auth.login("ada")
    token = reset_token(client, deliver, sink)
    assert client.post(RESET, json={"token": token, "password": NEW_PASSWORD}).status_code == 200
    for pair in (first, second):
        assert_problem(client.get(ME, headers=auth.bearer(pair["access_token"])), 401)
        assert_problem(client.post(REFRESH, json={"refresh_token": pair["refresh_token"]}), 401)


def test_two_concurrent_resets_with_one_token_exactly_one_wins(app, user, deliver, sink):
    token = reset_token(app.test_client(), deliver, sink)
    barrier = threading.Barrier(2)
    statuses = []

    def spend(password):
        client = app.test_client()
        barrier.wait()
        statuses.append(client.post(RESET, json={"token": token, "password": password}).status_code)

    threads = [
        threading.Thread(target=spend, args=(password,))
        for password in ("first-new-passphrase", "second-new-passphrase")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 400]


def test_reset_token_expires_after_its_lifetime(app, client, user, deliver, sink):
    minutes = app.config["PASSWORD_RESET_EXPIRE_MINUTES"]
    token = reset_token(client, deliver, sink)
    with time_machine.travel(utcnow() + timedelta(minutes=minutes, seconds=5)):
        assert_problem(client.post(RESET, json={"token": token, "password": NEW_PASSWORD}), 400)
    # Control: a fresh token used just inside its lifetime works.
    token = reset_token(client, deliver, sink)
    with time_machine.travel(utcnow() + timedelta(minutes=minutes, seconds=-5)):
        assert (
            client.post(RESET, json={"token": token, "password": NEW_PASSWORD}).status_code == 200
        )


def test_a_newer_reset_request_voids_the_older_token(client, user, deliver, sink):
    older = reset_token(client, deliver, sink)
    newer = reset_token(client, deliver, sink)
    assert_problem(client.post(RESET, json={"token": older, "password": NEW_PASSWORD}), 400)
    assert client.post(RESET, json={"token": newer, "password": NEW_PASSWORD}).status_code == 200


def test_a_password_change_voids_reset_tokens_and_sends_a_notice(client, auth, user, deliver, sink):
    token = reset_token(client, deliver, sink)
    headers = auth.headers_for(user)
    changed = client.patch(
        ME, headers=headers, json={"password": NEW_PASSWORD, "current_password": PASSWORD}
    )
    assert changed.status_code == 200
    assert_problem(client.post(RESET, json={"token": token, "password": "third-passphrase"}), 400)
    deliver()
    assert len(mails(sink, "ada@example.com", "Your password was changed")) == 1


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"token": "x" * 43, "password": NEW_PASSWORD}, 400),
        ({"token": "", "password": NEW_PASSWORD}, 422),
        ({"token": "x" * 129, "password": NEW_PASSWORD}, 422),
        ({"token": ["x"], "password": NEW_PASSWORD}, 422),
        ({"password": NEW_PASSWORD}, 422),
        ({"token": "x", "password": NEW_PASSWORD, "is_admin": True}, 422),
    ],
)
def test_bad_reset_requests_change_nothing(client, auth, user, body, status):
    assert_problem(client.post(RESET, json=body), status)
    auth.login("ada", PASSWORD)


def test_a_password_the_policy_refuses_leaves_the_token_usable(client, auth, user, deliver, sink):
    token = reset_token(client, deliver, sink)
    refused = client.post(RESET, json={"token": token, "password": "password"})
    assert_problem(refused, 422)
    assert "password" in refused.get_json()["errors"]
    assert client.post(RESET, json={"token": token, "password": NEW_PASSWORD}).status_code == 200


def test_a_verification_token_is_no_reset_token(client, user, deliver, sink, auth):
    headers = auth.headers_for(user)
    assert client.post(RESEND, headers=headers).status_code == 202
    deliver()
    (received,) = mails(sink, "ada@example.com", "Confirm your email address")
    token = token_of(received)
    assert_problem(client.post(RESET, json={"token": token, "password": NEW_PASSWORD}), 400)
    assert client.post(VERIFY, json={"token": token}).status_code == 200


def test_registration_sends_a_verification_mail_and_verify_marks_the_user(client, deliver, sink):
    body = {"email": "grace@example.com", "username": "grace", "password": PASSWORD}
    registered = client.post(f"{AUTH}/register", json=body)
    assert registered.status_code == 201 and "access_token" in registered.get_json()
    headers = {"Authorization": f"Bearer {registered.get_json()['access_token']}"}
    assert client.get(ME, headers=headers).get_json()["email_verified"] is False
    deliver()
    (received,) = mails(sink, "grace@example.com")
    token = token_of(received)
    assert f"{FRONTEND}/verify-email#token={token}" in received.text

    # A GET never spends a token (link scanners open links).
    assert client.get(f"{VERIFY}?token={token}").status_code == 405
    verified = client.post(VERIFY, json={"token": token})
    assert verified.status_code == 200
    assert verified.get_json()["email_verified"] is True
    assert client.get(ME, headers=headers).get_json()["email_verified"] is True
    assert_problem(client.post(VERIFY, json={"token": token}), 400)


def test_resend_voids_the_older_link_and_sends_nothing_once_verified(
    client, auth, user, deliver, sink
):
    headers = auth.headers_for(user)
    for _ in range(2):
        assert client.post(RESEND, headers=headers).status_code == 202
    deliver()
    older, newer = (token_of(m) for m in mails(sink, "ada@example.com"))
    assert_problem(client.post(VERIFY, json={"token": older}), 400)
    assert client.post(VERIFY, json={"token": newer}).status_code == 200
    assert client.post(RESEND, headers=headers).status_code == 202
    deliver()
    assert len(mails(sink, "ada@example.com")) == 2
    assert_problem(client.post(RESEND), 401)


def test_email_change_unverifies_mails_the_new_address_and_tells_the_old(
    app, client, auth, user, deliver, sink
):
    with app.app_context():
        db.session.get(User, user["id"]).email_verified = True
        db.session.commit()
    headers = auth.headers_for(user)
    changed = client.patch(
        ME, headers=headers, json={"email": "ada@new.example", "current_password": PASSWORD}
    )
    assert changed.status_code == 200
    assert changed.get_json()["email_verified"] is False
    deliver()
    (notice,) = mails(sink, "ada@example.com")
    assert notice.message["Subject"] == "Your email address was changed"
    assert "ada@new.example" not in notice.text
    (verification,) = mails(sink, "ada@new.example")
    assert client.post(VERIFY, json={"token": token_of(verification)}).status_code == 200


def test_a_link_for_an_old_address_does_not_verify_the_new_one(client, auth, user, deliver, sink):
    headers = auth.headers_for(user)
    client.post(RESEND, headers=headers)
    deliver()
    old_token = token_of(mails(sink, "ada@example.com")[-1])
    client.patch(
        ME, headers=headers, json={"email": "ada@new.example", "current_password": PASSWORD}
    )
    assert_problem(client.post(VERIFY, json={"token": old_token}), 400)
    assert client.get(ME, headers=headers).get_json()["email_verified"] is False


def test_admin_may_set_email_verified(client, auth, admin, user):
    headers = auth.headers_for(admin)
    updated = client.patch(
        f"/api/v1/users/{user['id']}", headers=headers, json={"email_verified": True}
    )
    assert updated.status_code == 200 and updated.get_json()["email_verified"] is True
    # A user cannot set it on themselves.
    own = client.patch(ME, headers=auth.headers_for(user), json={"email_verified": False})
    assert_problem(own, 422)


class TestVerificationRequired:
    @pytest.fixture
    def app_settings(self, sink):
        return sink.settings(EMAIL_VERIFICATION_REQUIRED=True)

    def test_register_gives_the_user_and_login_waits_for_verification(self, client, deliver, sink):
        body = {"email": "grace@example.com", "username": "grace", "password": PASSWORD}
        registered = client.post(f"{AUTH}/register", json=body)
        assert registered.status_code == 201
        assert registered.get_json()["email_verified"] is False
        assert "access_token" not in registered.get_json()

        wrong = client.post(LOGIN, json={"username": "grace", "password": "wrong-password"})
        assert_problem(wrong, 401)  # only the right password learns it is unverified
        refused = client.post(LOGIN, json={"username": "grace", "password": PASSWORD})
        assert refused.status_code == 403
        assert refused.mimetype == "application/problem+json"
        assert refused.get_json()["type"] == "urn:authsvc:problem:email-unverified"

        deliver()
        (received,) = mails(sink, "grace@example.com")
        assert client.post(VERIFY, json={"token": token_of(received)}).status_code == 200
        assert (
            client.post(LOGIN, json={"username": "grace", "password": PASSWORD}).status_code == 200
        )


def test_outbox_rows_keep_no_token_once_sent(app, client, user, deliver, sink):
    reset_token(client, deliver, sink)
    with app.app_context():
        rows = db.session.scalars(select(OutboxMail)).all()
        assert [(row.status, row.message) for row in rows] == [("sent", None)]


def test_no_token_reaches_logs_or_audit(client, user, deliver, sink, caplog):
    caplog.set_level("DEBUG")
    token = reset_token(client, deliver, sink)
    client.post(RESET, json={"token": token, "password": NEW_PASSWORD})
    ours = [r for r in caplog.records if r.name != "mail.log"]  # not the SMTP sink's own
    text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in ours)
    assert token not in text
    assert "ada@example.com" not in text  # the audit names the recipient by a hash
    requested = [r for r in caplog.records if getattr(r, "event", "") == "password.reset_requested"]
    assert len(requested) == 1 and len(requested[0].recipient) == 16


def test_verification_token_expires_after_its_lifetime(app, client, auth, user, deliver, sink):
    hours = app.config["EMAIL_VERIFY_EXPIRE_HOURS"]
    headers = auth.headers_for(user)
    client.post(RESEND, headers=headers)
    deliver()
    token = token_of(mails(sink, "ada@example.com")[-1])
    with time_machine.travel(utcnow() + timedelta(hours=hours, seconds=5)):
        assert_problem(client.post(VERIFY, json={"token": token}), 400)
    client.post(RESEND, headers=headers)
    deliver()
    token = token_of(mails(sink, "ada@example.com")[-1])
    with time_machine.travel(utcnow() + timedelta(hours=hours, seconds=-5)):
        assert client.post(VERIFY, json={"token": token}).status_code == 200


def test_reset_of_an_mfa_account_needs_its_second_factor_and_keeps_the_token(
    client, mfa, user, deliver, sink
):
    enrolled = mfa.enable(user)
    deliver()
    assert len(mails(sink, "ada@example.com", "Two-step verification is on")) == 1
    token = reset_token(client, deliver, sink)
    for extra in ({}, {"mfa_code": "not-a-code"}):
        body = {"token": token, "password": NEW_PASSWORD, **extra}
        assert_problem(client.post(RESET, json=body), 403)
    # Control: the same token, with a valid code, resets (it was not spent above).
    body = {"token": token, "password": NEW_PASSWORD, "mfa_code": enrolled.code()}
    assert client.post(RESET, json=body).status_code == 200


def test_a_password_reset_ends_mfa_logins_begun_before_it(client, mfa, user, deliver, sink):
    enrolled = mfa.enable(user)
    stolen = mfa.mfa_token(user)  # an attacker with the password, waiting for a code
    token = reset_token(client, deliver, sink)
    body = {"token": token, "password": NEW_PASSWORD, "mfa_code": enrolled.code()}
    assert client.post(RESET, json=body).status_code == 200
    mfa.clock.shift(STEP)  # past the code the reset spent
    assert_problem(mfa.verify(stolen, enrolled.code()), 401)
    # Control: the same code finishes a login begun after the reset, with the new password.
    fresh = mfa.login(user, NEW_PASSWORD)
    assert fresh.status_code == 403, fresh.get_json()
    assert mfa.verify(fresh.get_json()["mfa_token"], enrolled.code()).status_code == 200
