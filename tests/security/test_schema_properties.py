"""Property tests: any JSON body either validates or is refused with a 4xx
problem (422 for what the schema refuses), and never breaks the service."""

import json
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from authsvc import sessions
from authsvc.extensions import db
from authsvc.models import User
from authsvc.schemas import accounts as schemas
from tests.helpers import LOGIN, LOGOUT, ME, PASSWORD, REFRESH, REGISTER, USERS

pytestmark = pytest.mark.slow  # property-based: thousands of generated inputs

INPUT_SCHEMAS = [
    schemas.RegisterSchema,
    schemas.LoginSchema,
    schemas.RefreshTokenSchema,
    schemas.ProfileUpdateSchema,
    schemas.AdminUserCreateSchema,
    schemas.AdminUserUpdateSchema,
    schemas.UserQuerySchema,
]
# Text with the awkward parts of Unicode: NUL, controls, lone surrogates,
# combining marks, compatibility forms, astral characters.
text = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(codec=None, exclude_categories=()), max_size=40),
    st.text(
        st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=2
    ).flatmap(lambda bad: st.sampled_from([bad, f"ada{bad}", f"long-enough-{bad}-pw"])),
    st.sampled_from(["", " ", "\x00", "ada", "ada@example.com", PASSWORD, "\ufb00" * 65]),
    st.text(st.sampled_from("a\u00e9\u20ac\U0001f510\u0301\ufb00"), min_size=60, max_size=200),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=8,
)
# Values of the right type for each field, so bodies get past the first check
# often enough to reach the use cases; any JSON value now and then.
typed = {
    "email": st.emails() | st.sampled_from(["ada@example.com", "ADA@Example.com"]),
    "username": st.from_regex(r"\A[A-Za-z0-9_.\-]{3,32}\Z") | st.sampled_from(["ada", "root"]),
    "password": st.just(PASSWORD) | st.text(min_size=8, max_size=130),
    "current_password": st.just(PASSWORD),
    "full_name": st.none(),
    "grant_type": st.sampled_from(["password", "client_credentials"]),
    "is_active": st.booleans(),
    "is_admin": st.booleans(),
    "skip": st.integers(min_value=0, max_value=2**31),
    "limit": st.integers(min_value=0, max_value=1001),
}


def field_values(name):
    return st.one_of(typed.get(name, text), text, json_values)


def plausible_bodies(schema_class):
    """Objects with some of the schema's fields (typed or not), maybe a stray key."""
    names = sorted(schema_class().fields)
    known = st.fixed_dictionaries({}, optional={name: field_values(name) for name in names})
    stray = st.dictionaries(st.sampled_from(["id", "is_admin", "x"]) | st.text(), json_values)
    return st.one_of(
        known,
        st.tuples(known, stray).map(lambda parts: {**parts[0], **parts[1]}),
        json_values,
    )


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_schema_load_validates_or_raises_validation_error(data):
    for schema_class in INPUT_SCHEMAS:
        body = data.draw(plausible_bodies(schema_class), label=schema_class.__name__)
        try:
            loaded = schema_class().load(body)
        except ValidationError as error:
            assert isinstance(error.messages, dict | list)
            continue
        assert set(loaded) <= set(schema_class().fields)
        for value in loaded.values():
            if isinstance(value, str):
                value.encode("utf-8")  # what passes can reach bcrypt and the database
                assert "\x00" not in value


# Admins change the ordinary user (id 2), never themselves: one caller stays usable.
ENDPOINTS = [
    ("POST", REGISTER, None, schemas.RegisterSchema),
    ("POST", LOGIN, None, schemas.LoginSchema),
    ("POST", REFRESH, None, schemas.RefreshTokenSchema),
    ("POST", LOGOUT, None, schemas.RefreshTokenSchema),
    ("PATCH", ME, "user", schemas.ProfileUpdateSchema),
    ("PUT", ME, "user", schemas.ProfileUpdateSchema),
    ("POST", USERS, "admin", schemas.AdminUserCreateSchema),
    ("PATCH", f"{USERS}/2", "admin", schemas.AdminUserUpdateSchema),
    ("PUT", f"{USERS}/2", "admin", schemas.AdminUserUpdateSchema),
]


@pytest.fixture
def bearer(app, admin, user):
    """Headers with a live access token for a caller, minted straight from a session
    (a body may have changed the password, deactivated or logged the caller out)."""
    people = {"admin": admin, "user": user}
    cache = {}

    def headers(caller, stale=False):
        if stale or caller not in cache:
            with app.app_context():
                account = db.session.get(User, people[caller]["id"])
                account.is_active = True
                pair = sessions.start(account, sessions.Client(ip=None, user_agent=None)).tokens
                db.session.commit()
            cache[caller] = {"Authorization": f"Bearer {pair['access_token']}"}
        return cache[caller]

    return headers


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(endpoint=st.sampled_from(ENDPOINTS), data=st.data())
def test_any_json_body_is_handled_never_500(client, bearer, endpoint, data):
    method, path, caller, schema_class = endpoint
    body = data.draw(plausible_bodies(schema_class), label="body")
    headers = {"Content-Type": "application/json"}
    if caller:
        headers.update(bearer(caller))
    raw = json.dumps(body)  # lone surrogates travel as \\ud800 escapes, as an attacker sends them
    response = client.open(path, method=method, data=raw, headers=headers)
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json"
    if response.status_code == 422:
        errors = response.get_json()["errors"]
        assert all(
            isinstance(msgs, list) and all(isinstance(m, str) for m in msgs)
            for msgs in errors.values()
        )
    if caller and response.status_code == 401:
        bearer(caller, stale=True)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    query=st.dictionaries(
        st.sampled_from(sorted(schemas.UserQuerySchema().fields)) | st.text(max_size=8),
        text | st.integers().map(str) | st.sampled_from(["true", "false", "1", "0", "yes"]),
        max_size=5,
    )
)
def test_any_user_query_is_handled_never_500(client, bearer, query):
    # Percent-encoded bytes, as on the wire: a lone surrogate becomes invalid UTF-8.
    raw = urlencode(query, encoding="utf-8", errors="surrogatepass")
    response = client.get(f"{USERS}?{raw}", headers=bearer("admin"))
    assert response.status_code in (200, 422), response.get_data(as_text=True)
    if response.status_code == 200:
        assert int(response.headers["X-Total-Count"]) >= 0
