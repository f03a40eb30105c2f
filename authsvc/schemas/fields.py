"""The building blocks of the schemas: field types and the rules fields share."""

from marshmallow import RAISE, Schema, fields, validate

from .. import passwords

USERNAME_CHARACTERS = "[A-Za-z0-9_.\\-]{3,32}"
USERNAME = validate.Regexp(
    f"^{USERNAME_CHARACTERS}\\Z",
    error="Username must be 3 to 32 characters: ASCII letters, digits, '_', '.' or '-'.",
)
# The same rule for the spec: JSON Schema patterns are ECMA regexes, with no `\Z`.
USERNAME_METADATA = {"pattern": f"^{USERNAME_CHARACTERS}$", "example": "ada"}
# Passwords are length-checked after NFKC normalization (see passwords.py); this
# bound only keeps absurd bodies away from the normalizer.
PASSWORD_FIELD = {"validate": validate.Length(max=1024), "load_only": True}
# A password being set: the spec states the policy (its length bounds after
# NFKC, not common, not containing the username or email); passwords.py enforces it.
NEW_PASSWORD_METADATA = {
    "minLength": passwords.MIN_LENGTH,
    "maxLength": passwords.MAX_LENGTH,
    "description": f"{passwords.MIN_LENGTH} to {passwords.MAX_LENGTH} characters after NFKC "
    "normalization; common passwords and passwords containing the username or the "
    "email's local part are refused (422)",
}


class Text(fields.String):
    """A string any database, bcrypt and log can take.

    No NUL characters (PostgreSQL cannot store or compare them), and no lone
    surrogates (JSON can escape half a pair, `"\\ud800"`; UTF-8 cannot encode it).
    """

    default_error_messages = {
        "nul": "Must not contain NUL characters.",
        "surrogate": "Must be valid Unicode text (no lone surrogates).",
    }

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in value:
            raise self.make_error("nul")
        if not is_utf8_encodable(value):
            raise self.make_error("surrogate")
        return value


def is_utf8_encodable(value):
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Email(fields.Email, Text):
    """An email address, lower-cased before its length is checked (it is stored so;
    lower-casing can lengthen it: "İ" becomes two characters)."""

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).lower()


class StrictSchema(Schema):
    """A body: unknown fields are refused (422), so nobody can slip in `is_admin`."""

    class Meta:
        unknown = RAISE
        ordered = True


def email_field(**kwargs):
    return Email(
        validate=validate.Length(max=254), metadata={"example": "ada@example.com"}, **kwargs
    )


def full_name_field():
    return Text(
        allow_none=True, validate=validate.Length(max=100), metadata={"example": "Ada Lovelace"}
    )
