"""The OpenAPI spec: valid, complete, and honest about what each operation answers."""

import re
import uuid

import pytest
from openapi_spec_validator import validate

from authsvc import passwords
from authsvc.api import SECURITY
from authsvc.api.ratelimits import LIMITED
from authsvc.extensions import db
from tests.helpers import make_app

HTTP_METHODS = {"get", "put", "post", "delete", "patch"}
PUBLIC = {
    ("POST", "/api/v1/auth/register"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/auth/passkeys/login/options"),
    ("POST", "/api/v1/auth/passkeys/login"),
    ("POST", "/api/v1/auth/mfa/verify"),
    ("POST", "/api/v1/auth/password/forgot"),
    ("POST", "/api/v1/auth/password/reset"),
    ("POST", "/api/v1/auth/email/verify"),
    ("GET", "/health"),
    ("GET", "/.well-known/jwks.json"),
    ("GET", "/.well-known/oauth-authorization-server"),
    ("POST", "/oauth/revoke"),
}
# Authenticated by a client's HTTP Basic credentials, not a Bearer token.
CLIENT_AUTHENTICATED = {("POST", "/oauth/introspect")}
# RFC 7009/7662 form bodies: unknown parameters are ignored (those RFCs allow
# extensions), and introspection checks the client before the body.
OAUTH_FORMS = {("POST", "/oauth/introspect"), ("POST", "/oauth/revoke")}
RATE_LIMITED = {
    ("POST", "/api/v1/auth/register"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/passkeys/login/options"),
    ("POST", "/api/v1/auth/passkeys/login"),
    ("POST", "/api/v1/auth/passkeys/register/options"),
    ("POST", "/api/v1/auth/passkeys/register"),
    ("PUT", "/api/v1/users/me"),  # current_password guesses
    ("PATCH", "/api/v1/users/me"),
    ("POST", "/api/v1/auth/mfa/verify"),
    ("POST", "/api/v1/auth/mfa/totp"),  # current_password guesses
    ("DELETE", "/api/v1/auth/mfa/totp"),
    ("POST", "/oauth/introspect"),  # failed client authentications
    ("POST", "/api/v1/auth/password/forgot"),
    ("POST", "/api/v1/auth/password/reset"),
    ("POST", "/api/v1/auth/email/verify"),
    ("POST", "/api/v1/auth/email/verify/resend"),
}
ADMIN_ONLY_PREFIX = "/api/v1/users"
PROBLEM_REF = "#/components/schemas/Problem"


@pytest.fixture
def spec(client):
    return client.get("/openapi.json").get_json()


def operations(spec):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield method.upper(), path, operation


def resolve(spec, response):
    """A response object, following a `$ref` to components/responses."""
    if "$ref" in response:
        return spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return response


def test_the_spec_is_valid_openapi_3(spec):
    assert spec["openapi"].startswith("3.")
    validate(spec)


def test_every_endpoint_of_the_app_is_documented(app, spec):
    documented = {(method, path) for method, path, _op in operations(spec)}
    served = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(("/api/", "/health", "/.well-known/", "/oauth/")):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        served |= {(method, path) for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert served == documented


def test_every_operation_has_a_summary_a_tag_and_a_default_error(spec):
    for method, path, operation in operations(spec):
        where = f"{method} {path}"
        assert operation.get("summary"), where
        assert operation.get("tags"), where
        assert any(status.startswith("2") for status in operation["responses"]), where
        assert "default" in operation["responses"], where


def test_every_error_response_is_a_problem(spec):
    for method, path, operation in operations(spec):
        for status, response in operation["responses"].items():
            if status.startswith(("2", "3")) or (path == "/health" and status == "503"):
                continue
            content = resolve(spec, response)["content"]
            assert list(content) == ["application/problem+json"], f"{method} {path} {status}"
            assert content["application/problem+json"]["schema"] == {"$ref": PROBLEM_REF}


def test_the_problem_schema_matches_what_errors_send(spec):
    problem = spec["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status"}
    members = {"mfa_token", "methods"}  # of urn:authsvc:problem:mfa-required
    assert set(problem["properties"]) == {"type", "title", "status", "detail", "errors", *members}
    errors = problem["properties"]["errors"]
    assert errors["additionalProperties"]["type"] == "array"
    assert "Error" not in spec["components"]["schemas"]  # flask-smorest's own is unused


def test_protected_operations_declare_security_and_401(spec):
    for method, path, operation in operations(spec):
        where = f"{method} {path}"
        if (method, path) in PUBLIC:
            assert "security" not in operation, where
            continue
        if (method, path) in CLIENT_AUTHENTICATED:
            assert operation["security"] == [{"clientBasic": []}], where
            unauthorized = resolve(spec, operation["responses"]["401"])
            assert "WWW-Authenticate" in unauthorized["headers"], where
            continue
        assert operation["security"] == SECURITY, where
        unauthorized = resolve(spec, operation["responses"]["401"])
        assert "WWW-Authenticate" in unauthorized["headers"], where


def test_admin_operations_declare_403(spec):
    for method, path, operation in operations(spec):
        if path.startswith(ADMIN_ONLY_PREFIX) and not path.startswith(f"{ADMIN_ONLY_PREFIX}/me"):
            assert "403" in operation["responses"], f"{method} {path}"


def test_operations_with_a_body_or_query_declare_400_413_422(spec):
    for method, path, operation in operations(spec):
        where = f"{method} {path}"
        has_query = any(p["in"] == "query" for p in operation.get("parameters", []))
        if "requestBody" in operation:
            assert {"400", "413", "422"} <= set(operation["responses"]), where
        if has_query:
            assert "422" in operation["responses"], where


def test_rate_limited_operations_declare_429_with_retry_after(spec):
    for method, path, operation in operations(spec):
        if (method, path) in RATE_LIMITED:
            assert "Retry-After" in resolve(spec, operation["responses"]["429"])["headers"]
        else:
            assert "429" not in operation["responses"], f"{method} {path}"


def test_request_and_response_bodies_have_examples(spec):
    for method, path, operation in operations(spec):
        where = f"{method} {path}"
        for media in operation.get("requestBody", {}).get("content", {}).values():
            assert "example" in media, where
        for status, response in operation["responses"].items():
            for content_type, media in resolve(spec, response).get("content", {}).items():
                if status == "default" or content_type == "text/plain":
                    continue
                assert "example" in media, f"{where} {status}"


def test_security_schemes_offer_bearer_and_the_oauth2_password_flow(spec):
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": schemes["bearerAuth"]["description"],
    }
    password_flow = schemes["OAuth2PasswordBearer"]["flows"]["password"]
    assert password_flow["tokenUrl"] == "/api/v1/auth/login"
    login = spec["paths"]["/api/v1/auth/login"]["post"]["requestBody"]["content"]
    assert "application/x-www-form-urlencoded" in login


def operation_of(spec, method, path):
    return spec["paths"][path][method.lower()]


LIMITED_OPERATIONS = {
    "REGISTER_RATE_LIMIT": [("POST", "/api/v1/auth/register")],
    "LOGIN_RATE_LIMIT": [("POST", "/api/v1/auth/login")],
    "REFRESH_RATE_LIMIT": [("POST", "/api/v1/auth/refresh")],
    "CURRENT_PASSWORD_GUESSES": [
        ("PUT", "/api/v1/users/me"),
        ("PATCH", "/api/v1/users/me"),
        ("POST", "/api/v1/auth/mfa/totp"),
        ("DELETE", "/api/v1/auth/mfa/totp"),
    ],
    "PASSKEY_LOGIN_RATE_LIMIT": [
        ("POST", "/api/v1/auth/passkeys/login/options"),
        ("POST", "/api/v1/auth/passkeys/login"),
    ],
    "PASSKEY_REGISTER_RATE_LIMIT": [
        ("POST", "/api/v1/auth/passkeys/register/options"),
        ("POST", "/api/v1/auth/passkeys/register"),
    ],
    "MFA_VERIFY_RATE_LIMIT": [("POST", "/api/v1/auth/mfa/verify")],
    "INTROSPECTION_FAILURE_RATE_LIMIT": [("POST", "/oauth/introspect")],
    "EMAIL_SEND_RATE_LIMIT": [
        ("POST", "/api/v1/auth/password/forgot"),
        ("POST", "/api/v1/auth/email/verify/resend"),
    ],
    "EMAIL_TOKEN_RATE_LIMIT": [
        ("POST", "/api/v1/auth/password/reset"),
        ("POST", "/api/v1/auth/email/verify"),
    ],
}


def test_every_rate_limit_setting_documents_its_operation():
    assert set(LIMITED) == set(LIMITED_OPERATIONS)
    assert {op for ops in LIMITED_OPERATIONS.values() for op in ops} == RATE_LIMITED


def test_documented_limits_are_read_from_the_settings(database_url):
    """Change a setting, and the spec says the new number (nothing is copied)."""
    settings = {
        "REGISTER_RATE_LIMIT": "7 per hour",
        "LOGIN_RATE_LIMIT": "3 per 10 seconds",
        "REFRESH_RATE_LIMIT": "11/minute",
        "PASSKEY_LOGIN_RATE_LIMIT": "4 per hour",
        "PASSKEY_REGISTER_RATE_LIMIT": "6 per hour",
        "MFA_VERIFY_RATE_LIMIT": "4 per 30 seconds",
        "INTROSPECTION_FAILURE_RATE_LIMIT": "5 per hour",
        "MAX_CONTENT_LENGTH": 32 * 1024,
    }
    app = make_app(database_url, **settings)
    spec = app.test_client().get("/openapi.json").get_json()
    with app.app_context():  # its request loaded the signing keys: close that connection
        db.engine.dispose()
    expected = {
        "REGISTER_RATE_LIMIT": "Too many requests: 7 per 1 hour",
        "LOGIN_RATE_LIMIT": "Too many requests: 3 per 10 second",
        "REFRESH_RATE_LIMIT": "Too many requests: 11 per 1 minute",
        "MFA_VERIFY_RATE_LIMIT": "Too many requests: 4 per 30 second",
        "CURRENT_PASSWORD_GUESSES": "Too many requests: 3 per 10 second",  # the login limit
        "PASSKEY_LOGIN_RATE_LIMIT": "Too many requests: 4 per 1 hour",
        "PASSKEY_REGISTER_RATE_LIMIT": "Too many requests: 6 per 1 hour",
        "INTROSPECTION_FAILURE_RATE_LIMIT": "Too many requests: 5 per 1 hour",
        "EMAIL_SEND_RATE_LIMIT": "Too many requests: 10 per 1 hour",
        "EMAIL_TOKEN_RATE_LIMIT": "Too many requests: 10 per 1 minute",
    }
    for name, ops in LIMITED_OPERATIONS.items():
        for method, path in ops:
            too_many = resolve(spec, operation_of(spec, method, path)["responses"]["429"])
            example = too_many["content"]["application/problem+json"]["example"]
            assert example["detail"] == expected[name], name
    for method, path, operation in operations(spec):
        if "requestBody" in operation:
            too_large = resolve(spec, operation["responses"]["413"])
            assert "32 KiB" in too_large["description"], f"{method} {path}"


@pytest.mark.parametrize("app_settings", [{"RATELIMIT_ENABLED": True}])
def test_a_documented_429_is_what_the_limiter_answers(client, spec, app_settings):
    too_many = resolve(spec, operation_of(spec, "POST", "/api/v1/auth/refresh")["responses"]["429"])
    documented = too_many["content"]["application/problem+json"]["example"]["detail"]
    for _ in range(100):
        response = client.post("/api/v1/auth/refresh", json={"refresh_token": "x"})
        if response.status_code == 429:
            break
    assert response.status_code == 429
    assert response.get_json()["detail"] == documented


def test_documented_password_bounds_are_the_policy(spec):
    new_passwords = [
        spec["components"]["schemas"][name]["properties"]["password"]
        for name in ("Register", "ProfileUpdate", "AdminUserCreate", "AdminUserUpdate")
    ]
    for documented in new_passwords:
        low, high = documented["minLength"], documented["maxLength"]
        assert f"{low} to {high} characters" in documented["description"]
        # What the policy really refuses and accepts at each bound.
        assert passwords.policy_problems("q7#" + "x" * (low - 4)) != []
        assert passwords.policy_problems("q7#" + "x" * (low - 3)) == []
        assert passwords.policy_problems("q7#" + "x" * (high - 3)) == []
        assert passwords.policy_problems("q7#" + "x" * (high - 2)) != []


ADMIN_OPERATIONS = {
    ("GET", "/api/v1/users"),
    ("POST", "/api/v1/users"),
    ("PUT", "/api/v1/users/{user_id}"),
    ("PATCH", "/api/v1/users/{user_id}"),
    ("DELETE", "/api/v1/users/{user_id}"),
    ("DELETE", "/api/v1/users/{user_id}/sessions"),
    ("DELETE", "/api/v1/users/{user_id}/mfa"),
}


def test_authenticated_and_admin_required_document_401_and_403(spec):
    """The decorators declare the answers they give: nothing is stacked by hand."""
    for method, path, operation in operations(spec):
        responses = operation["responses"]
        if "security" in operation and (method, path) not in CLIENT_AUTHENTICATED:
            assert responses["401"] == {"$ref": "#/components/responses/UNAUTHENTICATED"}
        if (method, path) in ADMIN_OPERATIONS:
            assert responses["403"] == {"$ref": "#/components/responses/NOT_ADMIN"}, path
        else:
            assert responses.get("403") != {"$ref": "#/components/responses/NOT_ADMIN"}, path


# --- honesty: what is documented is what the service answers ----------------


def concrete(path, user_id):
    return (
        path.replace("{user_id}", str(user_id))
        .replace("{session_id}", uuid.uuid4().hex)
        .replace("{passkey_id}", "1")
    )


def test_documented_401_is_what_protected_operations_answer(client, spec):
    for method, path, operation in operations(spec):
        if (method, path) in PUBLIC:
            continue
        response = client.open(concrete(path, 1), method=method)  # no credentials at all
        assert response.status_code == 401, f"{method} {path}"
        assert response.mimetype == "application/problem+json"


def test_documented_400_and_413_are_what_body_operations_answer(client, auth, admin, spec):
    headers = auth.headers_for(admin)
    for method, path, operation in operations(spec):
        if "requestBody" not in operation or (method, path) in CLIENT_AUTHENTICATED:
            continue  # (introspection: 401 before the body; tests/test_api_oauth.py)
        url = concrete(path, admin["id"])
        for body, status in (("{not json", 400), ("[" + "1," * 40000 + "1]", 413)):
            response = client.open(
                url,
                method=method,
                data=body,
                headers={**headers, "Content-Type": "application/json"},
            )
            assert response.status_code == status, f"{method} {path} {response.get_json()}"
            assert str(status) in operation["responses"], f"{method} {path}"


def test_documented_422_is_what_an_unknown_field_gets(client, auth, admin, spec):
    headers = auth.headers_for(admin)
    for method, path, operation in operations(spec):
        if "requestBody" not in operation or (method, path) in OAUTH_FORMS:
            continue
        response = client.open(
            concrete(path, admin["id"]), method=method, json={"no_such_field": 1}, headers=headers
        )
        assert response.status_code == 422, f"{method} {path}"
        assert "no_such_field" in response.get_json()["errors"]
