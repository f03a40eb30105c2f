"""The mails themselves: headers, one recipient, links with the token in the fragment."""

import pytest

from authsvc.mail import messages

FROM = "authsvc <no-reply@auth.example>"
TOKEN = "Zk3-_tokenvalue_0123456789abcdefghijklmnopqr"


def build(kind, **values):
    values.setdefault("username", "ada")
    return messages.build(kind, recipient="ada@example.com", mail_from=FROM, values=values)


@pytest.mark.parametrize(
    ("kind", "path", "values"),
    [
        ("verify_email", "verify-email", {"hours": 24}),
        ("reset_password", "reset-password", {"minutes": 60}),
    ],
)
def test_token_mails_link_with_the_token_in_the_fragment(kind, path, values):
    link = messages.token_link("https://app.example/", kind, TOKEN)
    assert link == f"https://app.example/{path}#token={TOKEN}"
    message = build(kind, link=link, token=TOKEN, **values)
    text = message.get_body(("plain",)).get_content()
    assert link in text.splitlines()
    assert TOKEN in text.splitlines()  # on a line of its own
    assert TOKEN not in message["Subject"]
    html = message.get_body(("html",)).get_content()
    assert f'href="{link}"' in html


@pytest.mark.parametrize("kind", sorted(messages.NOTICE_KINDS))
def test_notices_go_to_the_user_alone(kind):
    message = build(kind)
    assert message["To"] == "ada@example.com"
    assert message["From"] == FROM
    assert message["Cc"] is None and message["Bcc"] is None
    assert message["Message-ID"].endswith("@auth.example>")
    assert message["Date"]
    assert "ada" in message.get_body(("plain",)).get_content()


def test_every_kind_the_other_features_use_has_a_template():
    expected = {
        "password_changed",
        "password_reset",
        "email_changed",
        "mfa_enabled",
        "mfa_disabled",
        "recovery_codes_regenerated",
    }
    assert expected == messages.NOTICE_KINDS


def test_html_part_escapes_what_it_is_given():
    message = build("password_changed", username="<script>x</script>")
    html = message.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_the_raw_message_keeps_link_and_token_on_unbroken_lines():
    link = messages.token_link("http://localhost:8000", "reset_password", TOKEN)
    raw = build("reset_password", link=link, token=TOKEN, minutes=60).as_string()
    assert link in raw.splitlines()
    assert TOKEN in raw.splitlines()
