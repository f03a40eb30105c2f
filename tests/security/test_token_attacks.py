"""Token attacks: forged, tampered, stale and misplaced tokens are each a 401.

Every forged token starts from a real one and changes one thing, so a 401 can
only come from that one thing (the unchanged forgery is the positive control).
"""

import base64
import json

import pytest
from sqlalchemy import update

from authsvc.extensions import db
from authsvc.models import User
from tests.helpers import (
    INVALID_TOKEN,
    LOGOUT,
    LOGOUT_ALL,
    ME,
    NO_TOKEN,
    REFRESH,
    USERS,
    assert_problem,
    claims_of,
    forge,
    now,
)


def b64(data):
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def unsigned(token, alg="none"):
    """The token's claims under an `alg` header, with an empty signature."""
    return f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(claims_of(token))}."


def tampered(token, **changes):
    """The token's own header and signature around changed claims."""
    header, _payload, signature = token.split(".")
    return f"{header}.{b64({**claims_of(token), **changes})}.{signature}"


# (name, how to turn a real token into the attack)
ATTACKS = [
    ("alg-none", lambda t: unsigned(t, "none")),
    ("alg-None-capitalised", lambda t: unsigned(t, "None")),
    ("hs256-signature-stripped", lambda t: unsigned(t, "HS256")),
    ("hs512-right-key", lambda t: forge(t, algorithm="HS512")),
    ("hs384-right-key", lambda t: forge(t, algorithm="HS384")),
    ("other-key", lambda t: forge(t, key="another-secret-key-0123456789-abcdefghijkl")),
    ("tampered-payload", lambda t: tampered(t, sub="999")),
    ("expired", lambda t: forge(t, exp=now() - 60)),
    ("not-yet-valid-nbf", lambda t: forge(t, nbf=now() + 120)),
    ("issued-in-the-future", lambda t: forge(t, iat=now() + 120)),
    *[
        (f"missing-{claim}", lambda t, c=claim: forge(t, drop=(c,)))
        for claim in ("sub", "jti", "iat", "exp", "type", "sid", "iss", "aud")
    ],
    ("unknown-type", lambda t: forge(t, type="id")),
    ("wrong-iss", lambda t: forge(t, iss="someone-else")),
    ("wrong-aud", lambda t: forge(t, aud="another-service")),
    ("sub-not-a-user-id", lambda t: forge(t, sub="ada")),
    ("sub-integer", lambda t: forge(t, sub=1)),
    ("sub-past-64-bits", lambda t: forge(t, sub="9" * 19)),
    ("sub-leading-zero", lambda t: forge(t, sub="0" + claims_of(t)["sub"])),
    ("sub-zero", lambda t: forge(t, sub="0")),
    ("sid-malformed", lambda t: forge(t, sid="x" * 40)),
    ("sid-of-no-session", lambda t: forge(t, sid="0" * 32)),
    ("garbage", lambda t: "not-a-jwt"),
    ("three-garbage-segments", lambda t: "a.b.c"),
]


@pytest.fixture
def pair(auth, user):
    return auth.login("ada")


def use_access(client, token):
    return client.get(ME, headers={"Authorization": f"Bearer {token}"})


def use_refresh(client, token):
    return client.post(REFRESH, json={"refresh_token": token})


def use_logout(client, token):
    return client.post(LOGOUT, json={"refresh_token": token})


USES = [("access", use_access), ("refresh", use_refresh), ("refresh", use_logout)]
USE_IDS = ["access-on-me", "refresh-on-refresh", "refresh-on-logout"]


def test_a_sub_past_pythons_int_parsing_limit_is_401_not_500(client, pair):
    """Signed with our key: int() of 5,000 digits would raise (bodies cap refresh
    tokens at 4 KiB, so only the header can carry one this long)."""
    token = forge(pair["access_token"], sub="9" * 5000)
    assert_problem(use_access(client, token), 401, INVALID_TOKEN)


@pytest.mark.parametrize(("kind", "use"), USES, ids=USE_IDS)
def test_forged_token_is_401_invalid_token(client, pair, kind, use, subtests):
    for name, attack in ATTACKS:
        with subtests.test(attack=name):
            assert_problem(use(client, attack(pair[f"{kind}_token"])), 401, INVALID_TOKEN)


@pytest.mark.parametrize(("kind", "use"), USES, ids=USE_IDS)
@pytest.mark.parametrize(
    "changes",
    [lambda: {}, lambda: {"exp": now() - 5}, lambda: {"iat": now() + 5}],
    ids=["unchanged", "expired-within-leeway", "iat-within-leeway"],
)
def test_positive_control_forgery_with_our_key_is_accepted(client, pair, kind, use, changes):
    """The harness forges correctly: re-signed with nothing wrong (or a clock skew
    inside the 10 s leeway), the token works."""
    assert use(client, forge(pair[f"{kind}_token"], **changes())).status_code == 200


@pytest.mark.parametrize(
    ("use", "token_kind"),
    [(use_access, "refresh_token"), (use_refresh, "access_token"), (use_logout, "access_token")],
    ids=["refresh-as-access", "access-as-refresh", "access-to-logout"],
)
def test_wrong_token_type_is_401(client, pair, use, token_kind):
    assert_problem(use(client, pair[token_kind]), 401, INVALID_TOKEN)


def test_refresh_token_as_bearer_is_no_access_token_anywhere(client, pair):
    headers = {"Authorization": f"Bearer {pair['refresh_token']}"}
    assert_problem(client.post(LOGOUT_ALL, headers=headers), 401, INVALID_TOKEN)
    assert_problem(client.get(USERS, headers=headers), 401, INVALID_TOKEN)


def test_deleted_users_tokens_are_401(client, auth, pair, user, admin):
    admin_headers = auth.headers_for(admin)
    assert client.delete(f"{USERS}/{user['id']}", headers=admin_headers).status_code == 204
    assert_problem(use_access(client, pair["access_token"]), 401, INVALID_TOKEN)
    assert_problem(use_refresh(client, pair["refresh_token"]), 401, INVALID_TOKEN)
    assert_problem(use_logout(client, pair["refresh_token"]), 401, INVALID_TOKEN)


def test_deactivated_users_tokens_are_401_even_with_a_live_session(app, client, pair, user):
    """Deactivation that bypassed the use case (no revocation) still locks the user out."""
    with app.app_context():
        db.session.execute(update(User).where(User.id == user["id"]).values(is_active=False))
        db.session.commit()
    assert_problem(use_access(client, pair["access_token"]), 401, INVALID_TOKEN)
    assert_problem(use_refresh(client, pair["refresh_token"]), 401, INVALID_TOKEN)
    assert_problem(use_logout(client, pair["refresh_token"]), 401, INVALID_TOKEN)


def test_revoked_session_tokens_are_401(client, auth, pair):
    assert use_logout(client, pair["refresh_token"]).status_code == 200
    assert_problem(use_access(client, pair["access_token"]), 401, INVALID_TOKEN)
    assert_problem(use_refresh(client, pair["refresh_token"]), 401, INVALID_TOKEN)
    # Repeating the logout of one's own (ended) session is harmless.
    assert use_logout(client, pair["refresh_token"]).status_code == 200


def test_logout_all_revokes_tokens_issued_before_it(client, auth, pair):
    other = auth.login("ada")
    response = client.post(LOGOUT_ALL, headers=auth.bearer(other["access_token"]))
    assert response.status_code == 200
    for tokens in (pair, other):
        assert_problem(use_access(client, tokens["access_token"]), 401, INVALID_TOKEN)
        assert_problem(use_refresh(client, tokens["refresh_token"]), 401, INVALID_TOKEN)


# (Authorization header, the challenge of the 401): another scheme is no Bearer
# token, so no error code (RFC 6750 section 3.1); a broken Bearer token is invalid.
HEADERS = [
    (None, NO_TOKEN),
    ("", NO_TOKEN),
    ("Basic YWRhOmNvcnJlY3QtaG9yc2U=", NO_TOKEN),
    ("Token abc.def.ghi", NO_TOKEN),
    ("Digest username=ada", NO_TOKEN),
    ("Bearer", INVALID_TOKEN),
    ("Bearer ", INVALID_TOKEN),
    ("Bearer garbage", INVALID_TOKEN),
    ("Bearer a.b.c", INVALID_TOKEN),
    ("Bearer two tokens", INVALID_TOKEN),
    ("Bearer " + "A" * 4000, INVALID_TOKEN),
    ("Bearer \u00e9t\u00e9.\u00e9t\u00e9.\u00e9t\u00e9", INVALID_TOKEN),
]


def test_garbage_or_wrong_scheme_authorization_is_401(client, subtests):
    for header, challenge in HEADERS:
        headers = {} if header is None else {"Authorization": header}
        for response in (client.get(ME, headers=headers), client.post(LOGOUT_ALL, headers=headers)):
            with subtests.test(header=header, path=response.request.path):
                assert_problem(response, 401, challenge)


@pytest.mark.parametrize(
    ("header", "challenge"),
    [(None, NO_TOKEN), ("Basic YWRhOnB3", NO_TOKEN), ("Bearer garbage", INVALID_TOKEN)],
)
def test_refresh_without_body_reads_only_a_bearer_token(client, header, challenge):
    headers = {} if header is None else {"Authorization": header}
    assert_problem(client.post(REFRESH, headers=headers), 401, challenge)


def test_token_in_query_string_is_ignored(client, pair):
    response = client.get(f"{ME}?access_token={pair['access_token']}")
    assert_problem(response, 401, NO_TOKEN)
    response = client.get(f"{ME}?jwt={pair['access_token']}")
    assert_problem(response, 401, NO_TOKEN)


def test_token_in_a_cookie_is_ignored(client, pair):
    client.set_cookie("access_token_cookie", pair["access_token"])
    assert_problem(client.get(ME), 401, NO_TOKEN)
