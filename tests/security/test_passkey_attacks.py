"""Passkey attacks a browser cannot produce, each beside a genuine control on the same
path: replayed assertions, wrong origin or RP id, no user verification, a counter
that goes backwards, an expired challenge, another user's credential or handle,
and racing spenders (exactly one wins)."""

import threading
from datetime import timedelta

import pytest
import time_machine

from authsvc.models import utcnow
from testing.softauthn import SoftAuthenticator, b64url
from tests.helpers import claims_of
from tests.passkey_flows import (
    ORIGIN,
    PASSKEY_SETTINGS,
    PREFIX,
    assert_login_failed,
    login,
    login_options,
    register,
)


@pytest.fixture
def app_settings():
    return PASSKEY_SETTINGS


@pytest.mark.parametrize("count", [None, 0], ids=["counting", "counterless"])
def test_replayed_assertion_is_refused(client, device, ada_passkey, count):
    """With a counterless passkey (always 0) only the spent challenge stops a replay."""
    assertion = device.get(login_options(client, "ada"), sign_count=count)
    assert login(client, assertion).status_code == 200
    assert_login_failed(login(client, assertion))


@pytest.mark.parametrize(
    "bend",
    [{}, {"origin": "http://evil.example"}, {"rp_id": "evil.example"}, {"user_verified": False}],
    ids=["control", "wrong-origin", "wrong-rp-id", "no-user-verification"],
)
def test_assertion_must_match_origin_rp_id_and_verify_the_user(client, device, ada_passkey, bend):
    reply = login(client, device.get(login_options(client, "ada"), **bend))
    if not bend:
        assert reply.status_code == 200, reply.get_json()
    else:
        assert_login_failed(reply)


def test_signature_counter_must_not_go_backwards(client, device, ada_passkey):
    assert login(client, device.get(login_options(client), sign_count=5)).status_code == 200
    assert_login_failed(login(client, device.get(login_options(client), sign_count=3)))
    assert_login_failed(login(client, device.get(login_options(client), sign_count=5)))
    assert login(client, device.get(login_options(client), sign_count=6)).status_code == 200


def test_a_zero_counter_may_stay_zero(client, device, ada_passkey):
    """Synced passkeys often keep no counter (always 0); that is no replay."""
    for _ in range(2):
        assertion = device.get(login_options(client), sign_count=0)
        assert login(client, assertion).status_code == 200


@pytest.mark.parametrize("age", [timedelta(minutes=4, seconds=50), timedelta(minutes=5, seconds=1)])
def test_challenge_dies_after_five_minutes(client, device, ada_passkey, age):
    options = login_options(client, "ada")
    with time_machine.travel(utcnow() + age, tick=False):
        reply = login(client, device.get(options))
    if age < timedelta(minutes=5):
        assert reply.status_code == 200, reply.get_json()
    else:
        assert_login_failed(reply)


def test_another_users_credential_does_not_answer_their_challenge(
    client, auth, make_user, device, ada_passkey
):
    grace = make_user("grace")
    graces_device = SoftAuthenticator(origin=ORIGIN)
    reply, _ = register(client, auth.headers_for(grace), graces_device)
    assert reply.status_code == 201
    # Grace's passkey against a challenge issued for ada: refused.
    assert_login_failed(login(client, graces_device.get(login_options(client, "ada"))))
    # The control: grace's passkey on her own challenge, and ada's on hers.
    ok = login(client, graces_device.get(login_options(client, "grace")))
    assert claims_of(ok.get_json()["access_token"])["sub"] == str(grace["id"])
    assert login(client, device.get(login_options(client, "ada"))).status_code == 200


def test_user_handle_must_be_the_credentials(client, device, ada_passkey):
    assertion = device.get(login_options(client))
    assertion["response"]["userHandle"] = b64url(b"someone else")
    assert_login_failed(login(client, assertion))


def race(app, assertions):
    """POST each assertion from its own thread, released together; return the statuses."""
    barrier = threading.Barrier(len(assertions))
    statuses = []

    def spend(assertion):
        with app.test_client() as own:
            barrier.wait()
            statuses.append(login(own, assertion).status_code)

    threads = [threading.Thread(target=spend, args=(a,)) for a in assertions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(statuses)


def test_two_spenders_of_one_challenge_exactly_one_wins(app, client, device, ada_passkey):
    """A counterless assertion sent twice at once: only the challenge's UPDATE decides."""
    assertion = device.get(login_options(client, "ada"), sign_count=0)
    assert race(app, [assertion, assertion]) == [200, 401]


def test_assertions_with_one_count_exactly_one_wins(app, client, device, ada_passkey):
    """Six challenges, one counter value, at once: the counter's UPDATE decides."""
    assertions = [device.get(login_options(client), sign_count=7) for _ in range(6)]
    assert race(app, assertions) == [200] + [401] * 5


# --- registration: one challenge, one passkey -----------------------------------


def register_race(app, headers, responses):
    """POST each registration response from its own thread, released together."""
    barrier = threading.Barrier(len(responses))
    statuses = []

    def spend(response):
        with app.test_client() as own:
            barrier.wait()
            reply = own.post(f"{PREFIX}/register", json={"credential": response}, headers=headers)
            statuses.append(reply.status_code)

    threads = [threading.Thread(target=spend, args=(r,)) for r in responses]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(statuses)


def registration_options(client, headers):
    reply = client.post(f"{PREFIX}/register/options", json={}, headers=headers)
    assert reply.status_code == 200, reply.get_json()
    return reply.get_json()


@pytest.mark.parametrize("credentials", ["one", "two"])
def test_two_registrations_with_one_challenge_exactly_one_wins(
    app, client, ada_headers, device, credentials
):
    """The same answer twice at once, or two new credentials over one challenge: one 201."""
    options = registration_options(client, ada_headers)
    first, _ = device.create(options)
    second = first if credentials == "one" else device.create(options)[0]
    assert register_race(app, ada_headers, [first, second]) == [201, 400]
    assert len(client.get(PREFIX, headers=ada_headers).get_json()) == 1


@pytest.mark.parametrize("race", [False, True], ids=["control", "lost-race"])
def test_a_registration_refused_with_409_keeps_its_challenge_spent(
    client, ada_headers, device, monkeypatch, race
):
    """A credential registered by a concurrent request between the check and the
    insert (simulated: the check says "not yet") is a 409 whose rollback used to
    restore the challenge: a second credential over it then registered (201)."""
    taken, taken_credential = register(client, ada_headers, device)
    assert taken.status_code == 201
    options = registration_options(client, ada_headers)
    if race:
        monkeypatch.setattr("authsvc.passkeys.credentials._registered", lambda _id: False)
        replay, _ = device.create(options, reuse=taken_credential)
        reply = client.post(f"{PREFIX}/register", json={"credential": replay}, headers=ada_headers)
        assert reply.status_code == 409, reply.get_json()
        monkeypatch.undo()
    fresh, _ = device.create(options)
    reply = client.post(f"{PREFIX}/register", json={"credential": fresh}, headers=ada_headers)
    if race:
        assert reply.status_code == 400, reply.get_json()
        assert "challenge" in reply.get_json()["detail"]
        assert len(client.get(PREFIX, headers=ada_headers).get_json()) == 1
    else:  # the challenge, never presented, registers the fresh credential
        assert reply.status_code == 201, reply.get_json()
