"""Passkeys through the API with a software authenticator: registration, the list,
deletion, login (named and discoverable), disabled and deleted users, garbage."""

import json
import logging
import os
from dataclasses import dataclass
from datetime import timedelta

import cbor2
import pytest
import sqlalchemy
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select

from authsvc.extensions import db
from authsvc.models import PasskeyChallenge, utcnow
from authsvc.passkeys.challenges import digest
from testing.softauthn import Credential, SoftAuthenticator, b64url, unb64url
from tests.helpers import TEST_SECRET_KEY, claims_of, make_app
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


# --- registration -------------------------------------------------------------


def test_registration_options_name_the_relying_party_and_require_verification(client, ada_headers):
    options = client.post(f"{PREFIX}/register/options", headers=ada_headers).get_json()
    assert options["rp"] == {"id": "localhost", "name": "authsvc"}
    assert options["user"]["name"] == "ada"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["excludeCredentials"] == []
    assert client.post(f"{PREFIX}/register/options").status_code == 401


def test_register_list_and_exclude(client, ada_headers, device, ada_passkey):
    listed = client.get(PREFIX, headers=ada_headers).get_json()
    assert [(p["name"], p["transports"], p["last_used_at"]) for p in listed] == [
        ("Laptop", ["internal"], None)
    ]
    options = client.post(f"{PREFIX}/register/options", headers=ada_headers).get_json()
    assert [c["id"] for c in options["excludeCredentials"]] == [b64url(ada_passkey.credential_id)]
    # The same user handle again, so an authenticator replaces rather than piles up.
    assert options["user"]["id"] == b64url(ada_passkey.user_handle)


def test_same_credential_is_refused_for_anyone(client, auth, ada_headers, device, make_user):
    """A credential belongs to one user: its id presented again is 409, whoever sends it."""
    first, credential = register(client, ada_headers, device)
    assert first.status_code == 201
    grace = auth.headers_for(make_user("grace"))
    for headers in (ada_headers, grace):
        options = client.post(f"{PREFIX}/register/options", headers=headers).get_json()
        replay, _ = device.create(options, reuse=credential)
        reply = client.post(f"{PREFIX}/register", json={"credential": replay}, headers=headers)
        assert reply.status_code == 409, reply.get_json()
    assert len(client.get(PREFIX, headers=ada_headers).get_json()) == 1
    assert client.get(PREFIX, headers=grace).get_json() == []


@pytest.mark.parametrize(
    ("bend", "detail"),
    [
        ({}, None),
        ({"origin": "http://evil.example"}, "origin"),
        ({"rp_id": "evil.example"}, "RP ID"),
        ({"user_verified": False}, "User verification"),
    ],
)
def test_registration_checks_origin_rp_id_and_verification(
    client, ada_headers, device, bend, detail
):
    reply, _ = register(client, ada_headers, device, **bend)
    if detail is None:  # the control: the genuine ceremony on the same path
        assert reply.status_code == 201, reply.get_json()
        return
    assert reply.status_code == 400
    assert reply.mimetype == "application/problem+json"
    assert detail in reply.get_json()["detail"]
    assert client.get(PREFIX, headers=ada_headers).get_json() == []


def test_registration_challenge_is_single_use_and_the_users_own(
    client, auth, ada_headers, device, make_user
):
    options = client.post(f"{PREFIX}/register/options", headers=ada_headers).get_json()
    response, _ = device.create(options)
    grace = auth.headers_for(make_user("grace"))
    stolen = client.post(f"{PREFIX}/register", json={"credential": response}, headers=grace)
    assert stolen.status_code == 400  # another user's challenge
    first = client.post(f"{PREFIX}/register", json={"credential": response}, headers=ada_headers)
    assert first.status_code == 201
    again = client.post(f"{PREFIX}/register", json={"credential": response}, headers=ada_headers)
    assert again.status_code == 400
    assert "challenge" in again.get_json()["detail"]


# --- login --------------------------------------------------------------------


@pytest.mark.parametrize("named", [True, False], ids=["username", "discoverable"])
def test_login_gives_a_session_with_hwk_amr(client, user, device, ada_passkey, named):
    options = login_options(client, "ADA" if named else None)
    assert options["allowCredentials"] == []  # named too: the authenticator offers its own
    assert options["userVerification"] == "required"
    reply = login(client, device.get(options))
    assert reply.status_code == 200, reply.get_json()
    assert reply.headers["Cache-Control"] == "no-store"
    pair = reply.get_json()
    assert claims_of(pair["access_token"])["amr"] == ["hwk", "mfa"]
    me = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.get_json()["username"] == "ada"
    refreshed = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert claims_of(refreshed.get_json()["access_token"])["amr"] == ["hwk", "mfa"]


def statements_of(app, request):
    """The SQL statements `request()` runs (same work, same timing, roughly)."""
    seen = []

    def count(conn, cursor, statement, *args):
        seen.append(statement.split()[0])

    with app.app_context():
        engine = db.engine
    sqlalchemy.event.listen(engine, "before_cursor_execute", count)
    try:
        request()
    finally:
        sqlalchemy.event.remove(engine, "before_cursor_execute", count)
    return seen


def register_without_transports(client, headers, device):
    """Register a passkey whose client reported no transports (clients may not)."""
    options = client.post(f"{PREFIX}/register/options", json={}, headers=headers).get_json()
    response, credential = device.create(options)
    del response["response"]["transports"]
    reply = client.post(f"{PREFIX}/register", json={"credential": response}, headers=headers)
    assert reply.status_code == 201, reply.get_json()
    return credential


def test_login_options_do_not_tell_who_has_passkeys(
    app, database_url, client, ada_headers, device, ada_passkey, make_user
):
    """An enumerator asks for options by username and by email: a user with passkeys
    (three, one stored without transports), an account without any and a name that
    is no one's. The made-up credentials that once stood in for missing ones had
    shapes no real one had and the other way round (no transports, three
    credentials), were the same for an account's username and email where two
    unknown names never matched, and changed with SECRET_KEY where real ones did
    not. A named answer lists no credential now: apart from its challenge it is
    the discoverable answer, for every name, before and after SECRET_KEY changes."""
    register(client, ada_headers, SoftAuthenticator(origin=ORIGIN))
    bare = register_without_transports(client, ada_headers, device)
    make_user("nopasskey", email="nopasskey@example.com")
    names = {
        "real": ("ada", "ADA@example.com"),
        "no-passkey": ("nopasskey", "NoPasskey@Example.com"),
        "unknown": ("nobody-here", "nobody-here@example.com"),
    }

    def seen(some_client, name):
        options = login_options(some_client, name)
        assert options["challenge"]
        return {key: value for key, value in options.items() if key != "challenge"}

    discoverable = seen(client, None)
    assert discoverable["allowCredentials"] == []
    for who, pair in names.items():
        for name in pair:
            assert seen(client, name) == discoverable, (who, name)
    # SECRET_KEY replaced (the old one a fallback): nothing in the answers moves.
    rotated = make_app(
        database_url,
        **PASSKEY_SETTINGS,
        SECRET_KEY="r" * 48,
        SECRET_KEY_FALLBACKS=[TEST_SECRET_KEY],
    )
    try:
        for pair in names.values():
            for name in pair:
                assert seen(rotated.test_client(), name) == discoverable, name
    finally:
        with rotated.app_context():
            db.session.remove()
            db.engine.dispose()
    # The same queries for each (a timing difference would need a different path).
    work = {
        who: statements_of(app, lambda name=pair[0]: login_options(client, name))
        for who, pair in names.items()
    }
    assert work["real"] == work["no-passkey"] == work["unknown"], work
    # Positive control: ada logs in by either name with each of her passkeys, the
    # one stored without transports among them.
    for name, credential in (("ada", ada_passkey), ("ada@example.com", bare)):
        reply = login(client, device.get(login_options(client, name), credential))
        assert reply.status_code == 200, (name, reply.get_json())


def test_a_named_challenge_answers_only_to_that_accounts_passkeys(
    client, auth, make_user, device, ada_passkey
):
    """Mallory asks for options in someone else's name and answers with her own
    passkey. The challenge of a name without passkeys was bound to no one, so she
    logged in (as herself, 200) exactly when the name had none: an oracle. Every
    named challenge is bound now, and the refusal is one 401 whoever the name is."""
    mallory = make_user("mallory")
    mallory_device = SoftAuthenticator(origin=ORIGIN)
    registered, _ = register(client, auth.headers_for(mallory), mallory_device)
    assert registered.status_code == 201, registered.get_json()
    make_user("nopasskey", email="nopasskey@example.com")

    def answer(name, with_device):
        return login(client, with_device.get(login_options(client, name)))

    names = ("ada", "ADA@example.com", "nopasskey", "nopasskey@example.com", "nobody-here")
    refused = {name: answer(name, mallory_device) for name in names}
    for name, reply in refused.items():
        assert_login_failed(reply)
    bodies = {json.dumps(reply.get_json(), sort_keys=True) for reply in refused.values()}
    headers = {reply.headers["WWW-Authenticate"] for reply in refused.values()}
    assert len(bodies) == len(headers) == 1, (bodies, headers)
    # The controls: her passkey on her own name and with no name, ada's on ada's.
    for name, with_device, who in (
        ("mallory", mallory_device, mallory),
        (None, mallory_device, mallory),
        ("ada", device, None),
    ):
        reply = answer(name, with_device)
        assert reply.status_code == 200, (name, reply.get_json())
        if who is not None:
            assert claims_of(reply.get_json()["access_token"])["sub"] == str(who["id"])


@pytest.mark.parametrize("verified", [True, False], ids=["verified", "unverified"])
def test_email_verification_required_refuses_an_unverified_users_passkey(
    app, client, auth, make_user, verified
):
    """As a password login: with EMAIL_VERIFICATION_REQUIRED an unverified user's
    genuine passkey is 403 email-unverified (a bad one stays the one 401); a
    verified user's passkey logs in (the control)."""
    who = make_user("grace", email_verified=verified)
    device = SoftAuthenticator(origin=ORIGIN)
    registered, _ = register(client, auth.headers_for(who), device)
    assert registered.status_code == 201, registered.get_json()
    app.config["EMAIL_VERIFICATION_REQUIRED"] = True
    bad = login(client, device.get(login_options(client, "grace"), rp_id="evil.example"))
    assert_login_failed(bad)
    reply = login(client, device.get(login_options(client, "grace")))
    if verified:
        assert reply.status_code == 200, reply.get_json()
        assert claims_of(reply.get_json()["access_token"])["amr"] == ["hwk", "mfa"]
        return
    assert reply.status_code == 403
    assert reply.mimetype == "application/problem+json"
    assert reply.get_json()["type"] == "urn:authsvc:problem:email-unverified"
    assert "access_token" not in reply.get_json()


def test_deleting_a_passkey_ends_nothing_else(client, ada_headers, device, ada_passkey, auth):
    second, _ = register(client, ada_headers, SoftAuthenticator(origin=ORIGIN), name="Phone")
    pair = login(client, device.get(login_options(client))).get_json()
    bearer = auth.bearer(pair["access_token"])
    ids = {p["name"]: p["id"] for p in client.get(PREFIX, headers=bearer).get_json()}
    assert client.delete(f"{PREFIX}/{ids['Laptop']}", headers=bearer).status_code == 204
    # The session the deleted passkey opened lives on, and so do the other passkey and tokens.
    assert client.get("/api/v1/users/me", headers=bearer).status_code == 200
    assert client.get("/api/v1/users/me", headers=ada_headers).status_code == 200
    assert [p["name"] for p in client.get(PREFIX, headers=bearer).get_json()] == ["Phone"]
    assert_login_failed(login(client, device.get(login_options(client))))
    assert client.delete(f"{PREFIX}/{ids['Laptop']}", headers=bearer).status_code == 404


def test_a_passkey_of_another_user_cannot_be_deleted(
    client, auth, make_user, ada_headers, ada_passkey
):
    grace = auth.headers_for(make_user("grace"))
    mine = client.get(PREFIX, headers=ada_headers).get_json()[0]["id"]
    for passkey_id in (mine, 999999, 2**40):
        reply = client.delete(f"{PREFIX}/{passkey_id}", headers=grace)
        assert reply.status_code == 404
        assert reply.mimetype == "application/problem+json"
    assert len(client.get(PREFIX, headers=ada_headers).get_json()) == 1


GARBAGE = [
    {},
    {"credential": None},
    {"credential": "not an object"},
    {"credential": {}},
    {"credential": {"id": "x", "rawId": "x", "type": "public-key", "response": {}}},
    {"credential": {"id": 1, "rawId": [], "response": {"clientDataJSON": 5}}},
    {
        "credential": {
            "id": "AA",
            "rawId": "AA",
            "type": "public-key",
            "response": {
                "clientDataJSON": "!!!",
                "authenticatorData": "",
                "signature": "",
                "attestationObject": "////",
            },
        }
    },
    {
        "credential": {
            "id": "AA",
            "rawId": "AA",
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(b'{"challenge": 5}'),
                "authenticatorData": "AA",
                "signature": "AA",
                "attestationObject": b64url(b"\xa1\x63fmt\x1b\xff\xff\xff\xff\xff\xff\xff\xff"),
            },
        }
    },
    {
        "credential": {
            "id": "AA",
            "rawId": "AA",
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(b"[[[[[[[[[[" * 200),
                "authenticatorData": "\ud800",
                "signature": "AA",
                "attestationObject": "AA",
            },
        }
    },
    {
        "credential": {
            "id": "AA",
            "response": {"clientDataJSON": b64url(b"\xff\xfe"), "userHandle": {"x": 1}},
        }
    },
    {"credential": {}, "extra": 1},
]


@pytest.mark.parametrize("body", GARBAGE)
def test_garbage_credentials_are_problems_not_500s(client, ada_headers, ada_passkey, body):
    for path, headers in ((f"{PREFIX}/login", {}), (f"{PREFIX}/register", ada_headers)):
        reply = client.post(path, json=body, headers=headers)
        assert reply.status_code in (400, 401, 422), (path, reply.status_code, reply.get_data())
        assert reply.mimetype == "application/problem+json"
    assert len(client.get(PREFIX, headers=ada_headers).get_json()) == 1


def test_garbage_with_a_live_challenge_spends_it(app, client, device, ada_passkey):
    options = login_options(client, "ada")
    assertion = device.get(options)
    broken = {**assertion, "response": {**assertion["response"], "signature": b64url(b"junk")}}
    assert_login_failed(login(client, broken))
    assert_login_failed(login(client, assertion))  # the challenge went with the attempt
    with app.app_context():
        live = select(func.count()).where(PasskeyChallenge.used_at.is_(None))
        assert db.session.execute(live.select_from(PasskeyChallenge)).scalar_one() == 0


def test_prune_deletes_spent_and_expired_challenges_only(app, runner, client, device, ada_passkey):
    assert login(client, device.get(login_options(client, "ada"))).status_code == 200
    login_options(client)  # live: stays
    expired = login_options(client)
    with app.app_context():
        row = db.session.get(PasskeyChallenge, digest(unb64url(expired["challenge"])))
        row.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    result = runner.invoke(args=["prune-tokens"])
    assert result.exit_code == 0, result.output
    # Spent: the registration's and the login's; expired: one. The live one stays.
    assert "Pruned 3 spent or expired passkey challenges" in result.output
    with app.app_context():
        count = select(func.count()).select_from(PasskeyChallenge)
        assert db.session.execute(count).scalar_one() == 1


def test_passkey_logins_are_audited(client, device, ada_passkey, caplog):
    caplog.set_level(logging.INFO, logger="authsvc.audit")
    assert login(client, device.get(login_options(client, "ada"))).status_code == 200
    assert_login_failed(login(client, device.get(login_options(client), rp_id="evil.example")))
    records = [r for r in caplog.records if r.name == "authsvc.audit"]
    assert [(r.event, r.method) for r in records if r.event.startswith("login.")] == [
        ("login.success", "passkey"),
        ("login.failure", "passkey"),
    ]
    assert records[-1].reason == "Unexpected RP ID hash"
    assert records[-1].levelno == logging.WARNING


@pytest.mark.parametrize(
    "app_settings",
    [
        {
            **PASSKEY_SETTINGS,
            "METRICS_ENABLED": True,
            "RATELIMIT_ENABLED": True,
            "PASSKEY_LOGIN_RATE_LIMIT": "3 per minute",
        }
    ],
)
def test_passkey_logins_are_counted_and_rate_limited(client, device, ada_passkey):
    def count(outcome):
        text = client.get("/metrics").get_data(as_text=True)
        line = f'authsvc_passkey_logins_total{{outcome="{outcome}"}} '
        found = [float(row.split()[-1]) for row in text.splitlines() if row.startswith(line)]
        return found[0] if found else 0.0

    before = count("success"), count("invalid_credentials"), count("rate_limited")
    options = [login_options(client, "ada") for _ in range(3)]
    limited = client.post(f"{PREFIX}/login/options", json={})
    assert limited.status_code == 429 and "Retry-After" in limited.headers
    assert limited.mimetype == "application/problem+json"
    assert login(client, device.get(options[0])).status_code == 200
    assert_login_failed(login(client, device.get(options[1], origin="http://evil.example")))
    assert login(client, device.get(options[2])).status_code == 200
    assert login(client, device.get(options[2])).status_code == 429
    after = count("success"), count("invalid_credentials"), count("rate_limited")
    assert [a - b for a, b in zip(after, before, strict=True)] == [2, 1, 1]


@pytest.mark.parametrize("length", [1023, 1024])
def test_credential_ids_longer_than_webauthn_allows_are_refused(
    client, ada_headers, device, length
):
    options = client.post(f"{PREFIX}/register/options", headers=ada_headers).get_json()
    made = Credential(
        credential_id=bytes([7]) * length,
        private_key=ec.generate_private_key(ec.SECP256R1()),
        rp_id="localhost",
        user_handle=unb64url(options["user"]["id"]),
    )
    response, _ = device.create(options, reuse=made)
    reply = client.post(f"{PREFIX}/register", json={"credential": response}, headers=ada_headers)
    assert reply.status_code == (201 if length == 1023 else 400), reply.get_json()


def test_an_mfa_user_logs_in_with_a_passkey_without_a_code(client, mfa, user, device):
    """A passkey with user verification is two factors: no TOTP after it."""
    enrolled = mfa.enable(user)
    reply, _ = register(client, enrolled.headers, device)
    assert reply.status_code == 201, reply.get_json()
    mfa.mfa_token(user)  # the control: the password alone answers 403 mfa-required
    passkey = login(client, device.get(login_options(client, "ada")))
    assert passkey.status_code == 200, passkey.get_json()
    assert claims_of(passkey.get_json()["access_token"])["amr"] == ["hwk", "mfa"]


@dataclass
class BrokenKeyCredential(Credential):
    """A credential that attests a public key no signature could ever be checked with."""

    cose: dict = None

    def cose_public_key(self):
        return cbor2.dumps(self.cose)


X = Y = bytes(32)  # (0, 0) is on no curve
UNUSABLE_KEYS = {
    "ec2-off-curve": {1: 2, 3: -7, -1: 1, -2: X, -3: Y},
    "ec2-unknown-curve": {1: 2, 3: -7, -1: 99, -2: X, -3: Y},
    "okp-short": {1: 1, 3: -8, -1: 6, -2: b"\x00"},
    "rsa-tiny": {1: 3, 3: -257, -1: b"\x00", -2: b"\x01\x00\x01"},
    "rsa-1024": {1: 3, 3: -257, -1: b"\xc1" + bytes(127), -2: b"\x01\x00\x01"},
}


@pytest.mark.parametrize("cose", [None, *UNUSABLE_KEYS.values()], ids=["control", *UNUSABLE_KEYS])
def test_a_public_key_that_cannot_verify_is_refused_at_registration(
    client, ada_headers, device, cose
):
    options = client.post(f"{PREFIX}/register/options", headers=ada_headers).get_json()
    made = BrokenKeyCredential(
        credential_id=os.urandom(32),
        private_key=ec.generate_private_key(ec.SECP256R1()),
        rp_id="localhost",
        user_handle=unb64url(options["user"]["id"]),
        cose=cose,
    )
    if cose is None:  # the control: the same path with the credential's real key
        made.cose = cbor2.loads(Credential.cose_public_key(made))
    response, _ = device.create(options, reuse=made)
    reply = client.post(f"{PREFIX}/register", json={"credential": response}, headers=ada_headers)
    if cose is None:
        assert reply.status_code == 201, reply.get_json()
        assert login(client, device.get(login_options(client, "ada"), made)).status_code == 200
        return
    assert reply.status_code == 400, reply.get_json()
    assert reply.mimetype == "application/problem+json"
    assert client.get(PREFIX, headers=ada_headers).get_json() == []
