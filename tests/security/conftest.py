"""Fixtures for the attack suite (its helpers are in tests/helpers.py)."""

import pytest


@pytest.fixture
def tokens_for(auth):
    """Log a user in and return their token pair."""

    def login(user):
        return auth.login(user["username"], user["password"])

    return login
