"""The mails authsvc sends, built as `email.message.EmailMessage`.

Plain text with an HTML alternative; `From: MAIL_FROM`, `To:` the one
recipient. A mail that carries a token links to `{FRONTEND_URL}/...#token=...`
(the fragment never reaches a server log or a `Referer`) and repeats the token
on a line of its own; no subject ever carries one.
"""

import html
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

SIGNATURE = "If you did not ask for this, you can ignore this mail."
NOT_YOU = "If this was not you, reset your password at once and tell your administrator."

# kind: (subject, paragraphs). `{link}` and `{token}` appear only in token mails.
TEMPLATES = {
    "verify_email": (
        "Confirm your email address",
        [
            "Hello {username},",
            "please confirm that this address belongs to your account by opening this link:",
            "{link}",
            "or by entering this code where you were asked for it:",
            "{token}",
            "The link works once, within {hours} hours.",
            SIGNATURE,
        ],
    ),
    "reset_password": (
        "Reset your password",
        [
            "Hello {username},",
            "someone (we hope you) asked to reset the password of your account. "
            "To choose a new password, open this link:",
            "{link}",
            "or enter this code where you were asked for it:",
            "{token}",
            "The link works once, within {minutes} minutes. "
            "Resetting your password signs you out everywhere.",
            SIGNATURE,
        ],
    ),
    "password_changed": (
        "Your password was changed",
        ["Hello {username},", "the password of your account was just changed.", NOT_YOU],
    ),
    "password_reset": (
        "Your password was reset",
        [
            "Hello {username},",
            "the password of your account was just reset with a link sent to this address, "
            "and every session of your account was ended.",
            NOT_YOU,
        ],
    ),
    "email_changed": (
        "Your email address was changed",
        [
            "Hello {username},",
            "the email address of your account was just changed from this address "
            "to another one. Mail about your account now goes there.",
            NOT_YOU,
        ],
    ),
    "mfa_enabled": (
        "Two-step verification is on",
        [
            "Hello {username},",
            "two-step verification was just turned on for your account.",
            NOT_YOU,
        ],
    ),
    "mfa_disabled": (
        "Two-step verification is off",
        [
            "Hello {username},",
            "two-step verification was just turned off for your account.",
            NOT_YOU,
        ],
    ),
    "recovery_codes_regenerated": (
        "New recovery codes",
        [
            "Hello {username},",
            "new recovery codes were just made for your account; the old ones no longer work.",
            NOT_YOU,
        ],
    ),
}
TOKEN_KINDS = {"verify_email": "verify-email", "reset_password": "reset-password"}
NOTICE_KINDS = frozenset(TEMPLATES) - frozenset(TOKEN_KINDS)


def token_link(frontend_url, kind, token):
    return f"{frontend_url.rstrip('/')}/{TOKEN_KINDS[kind]}#token={token}"


def build(kind, *, recipient, mail_from, values):
    """The message of `kind` to `recipient`; `values` fill the template's fields."""
    subject, paragraphs = TEMPLATES[kind]
    text_parts = [paragraph.format(**values) for paragraph in paragraphs]
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = mail_from
    message["To"] = Address(addr_spec=recipient)
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender_domain(mail_from))
    message["Auto-Submitted"] = "auto-generated"
    # Not quoted-printable: a link or token must stay one unbroken line, even
    # for someone reading the raw .eml file.
    text = "\n\n".join(text_parts) + "\n"
    message.set_content(text, cte=transfer_encoding(text))
    html_text = html_body(subject, paragraphs, values)
    message.add_alternative(html_text, subtype="html", cte=transfer_encoding(html_text))
    return message


def transfer_encoding(text):
    return "7bit" if text.isascii() else "8bit"


def html_body(subject, paragraphs, values):
    safe = {name: html.escape(str(value)) for name, value in values.items()}
    if "link" in values:
        safe["link"] = f'<a href="{safe["link"]}">{safe["link"]}</a>'
    if "token" in values:
        safe["token"] = f"<code>{safe['token']}</code>"
    body = "\n".join(f"<p>{html.escape(p, quote=False).format(**safe)}</p>" for p in paragraphs)
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(subject)}'
        f"</title></head>\n<body>\n{body}\n</body></html>\n"
    )


def sender_domain(mail_from):
    _name, address = parseaddr(mail_from)
    return address.rpartition("@")[2] or "localhost"
