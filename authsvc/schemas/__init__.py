"""Marshmallow schemas at the HTTP boundary, a module per area; unknown fields are refused.

`fields` holds the building blocks (text that any database takes, emails,
the password and username rules for the spec, `StrictSchema`); `responses`
the shapes many views answer with (problem+json among them).
"""
