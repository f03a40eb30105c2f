"""The MFA state machine (off → pending → on → off), explored by hypothesis.

Random sequences of enrol, confirm, disable, regenerate, admin reset and login,
with right and wrong passwords and codes, against a model of what each should
answer; after every step the API's view of the user must match the model.
"""

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from tests.helpers import (
    CONFIRM,
    MFA,
    PASSWORD,
    RECOVERY_CODES,
    STEP,
    TOTP,
    bearer,
    code,
)

pytestmark = pytest.mark.slow  # hypothesis explores a dozen sequences of a dozen requests

LOCKOUT = 10
WRONG_PASSWORD = "not-the-password-1"


def test_mfa_states(app, mfa, make_user):
    client = mfa.client
    counter = iter(range(10_000))

    class MfaStates(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            admin = make_user(f"admin{next(counter)}", is_admin=True)
            self.admin = bearer(mfa.tokens(admin)["access_token"])
            self.user = make_user(f"user{next(counter)}")
            self.headers = bearer(mfa.tokens(self.user)["access_token"])
            self.state, self.secret, self.pending_secret, self.wrong = "off", None, None, 0

        def fresh(self, right):
            """A code of a step not used yet (right), or of a step far away (wrong)."""
            mfa.clock.shift(STEP)
            return code(self.secret, 0 if right else 5)

        @rule(right=st.booleans())
        def enrol(self, right):
            body = {"current_password": PASSWORD if right else WRONG_PASSWORD}
            reply = client.post(TOTP, json=body, headers=self.headers)
            if not right:
                assert reply.status_code == 400
            elif self.state == "on":
                assert reply.status_code == 409
            else:
                assert reply.status_code == 201
                self.state, self.pending_secret = "pending", reply.get_json()["secret"]

        @rule(right=st.booleans())
        def confirm(self, right):
            mfa.clock.shift(STEP)
            secret = self.pending_secret or "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
            body = {"code": code(secret, 0 if right else 5)}
            reply = client.post(CONFIRM, json=body, headers=self.headers)
            if self.state != "pending":
                assert reply.status_code == 409
            elif right:
                assert reply.status_code == 200
                self.state, self.secret, self.wrong = "on", self.pending_secret, 0
                self.pending_secret = None
            else:
                assert reply.status_code == 400

        def spend(self, reply, right):
            """Check a code-taking answer against the lockout model."""
            if right and self.wrong < LOCKOUT:
                self.wrong = 0
                return True
            assert reply.status_code == 400
            if not right:
                self.wrong += 1
            return False

        @rule(right=st.booleans())
        def regenerate(self, right):
            if self.state != "on":
                reply = client.post(RECOVERY_CODES, json={"code": "123456"}, headers=self.headers)
                assert reply.status_code == 409
                return
            reply = client.post(
                RECOVERY_CODES, json={"code": self.fresh(right)}, headers=self.headers
            )
            if self.spend(reply, right):
                assert reply.status_code == 200

        @rule(right=st.booleans())
        def disable(self, right):
            if self.state != "on":
                body = {"current_password": PASSWORD, "code": "123456"}
                assert client.delete(TOTP, json=body, headers=self.headers).status_code == 409
                return
            body = {"current_password": PASSWORD, "code": self.fresh(right)}
            reply = client.delete(TOTP, json=body, headers=self.headers)
            if self.spend(reply, right):
                assert reply.status_code == 204
                self.state, self.secret = "off", None

        @rule()
        def admin_reset(self):
            reply = client.delete(f"/api/v1/users/{self.user['id']}/mfa", headers=self.admin)
            if self.state != "on":
                assert reply.status_code == 409
                return
            assert reply.status_code == 204
            self.state, self.secret, self.wrong = "off", None, 0
            assert client.get(MFA, headers=self.headers).status_code == 401
            self.headers = bearer(mfa.tokens(self.user)["access_token"])

        @rule()
        def login(self):
            if self.state != "on":
                assert mfa.login(self.user).status_code == 200
                return
            reply = mfa.verify(mfa.mfa_token(self.user), self.fresh(True))
            assert reply.status_code == (200 if self.wrong < LOCKOUT else 401)
            if self.wrong < LOCKOUT:
                self.wrong = 0

        @invariant()
        def api_agrees(self):
            status = client.get(MFA, headers=self.headers).get_json()
            assert status["mfa_enabled"] == (self.state == "on")
            assert status["pending"] == (self.state == "pending")
            assert status["totp_locked"] == (self.state == "on" and self.wrong >= LOCKOUT)

    run_state_machine_as_test(
        MfaStates,
        settings=settings(
            max_examples=12,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
