"""Where rendered mail goes: an SMTP server (`smtp`) or `.eml` files (`file`).

A backend opens a connection for a batch and sends messages over it. Every
failure is sorted into one of two exceptions, so the sender knows whether to
try again later (`TransientMailError`) or give the message up
(`PermanentMailError`): a 5xx reply to the message itself (sender, recipient
or data refused) is permanent; everything else (4xx replies, a server that is
down, slow or drops the line, a refused login, TLS required or failing) is
transient, so a fixed configuration still delivers what waited.
"""

import os
import smtplib
import ssl
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

SECURITY_MODES = ("starttls", "ssl", "none")
# 5xx replies that mean "this client is set up wrong" (TLS or AUTH required,
# credentials refused), not "this message is refused": worth a retry once fixed.
CONFIGURATION_REPLIES = frozenset({530, 534, 535, 538})


class TransientMailError(Exception):
    """Try again later."""


class PermanentMailError(Exception):
    """The server refused this message for good (a 5xx reply to it)."""


def reply_error(code, text):
    """The exception for an SMTP reply `code` refusing a message."""
    detail = f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"
    if 500 <= code < 600 and code not in CONFIGURATION_REPLIES:
        return PermanentMailError(detail)
    return TransientMailError(detail)


class SmtpBackend:
    """Deliver over SMTP with smtplib: STARTTLS, SSL or plain; AUTH when a username is set."""

    def __init__(
        self,
        host,
        port=587,
        *,
        security="starttls",
        username=None,
        password=None,
        timeout=10.0,
        ssl_context=None,
    ):
        if security not in SECURITY_MODES:
            raise ValueError(f"SMTP_SECURITY must be one of {', '.join(SECURITY_MODES)}")
        self.host, self.port, self.security = host, port, security
        self.username, self.password, self.timeout = username, password, timeout
        self.ssl_context = ssl_context or ssl.create_default_context()

    @contextmanager
    def connection(self):
        """An open, authenticated SMTP connection; TransientMailError when there is none."""
        try:
            client = self._connect()
        except (OSError, smtplib.SMTPException) as error:
            raise TransientMailError(f"cannot reach {self.host}:{self.port}: {error}") from error
        try:
            yield SmtpConnection(client)
        finally:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()

    def _connect(self):
        if self.security == "ssl":
            client = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self.ssl_context
            )
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            client.ehlo()
            if self.security == "starttls":
                client.starttls(context=self.ssl_context)
                client.ehlo()
            if self.username:
                client.login(self.username, self.password or "")
        except BaseException:
            client.close()
            raise
        return client


class SmtpConnection:
    def __init__(self, client):
        self.client = client

    def send(self, message):
        try:
            self.client.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            code, text = next(iter(error.recipients.values()))
            raise reply_error(code, text) from error
        except smtplib.SMTPResponseException as error:  # sender or data refused
            raise reply_error(error.smtp_code, error.smtp_error) from error
        except (OSError, smtplib.SMTPException) as error:
            raise TransientMailError(str(error) or type(error).__name__) from error


class FileBackend:
    """Write each message to `directory` as an `.eml` file (development, `make run`)."""

    def __init__(self, directory):
        self.directory = Path(directory)

    @contextmanager
    def connection(self):
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise TransientMailError(f"cannot create {self.directory}: {error}") from error
        yield self

    def send(self, message):
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        path = self.directory / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
        partial = path.with_suffix(".part")
        try:
            partial.write_bytes(message.as_bytes())
            os.replace(partial, path)  # a reader never sees half a message
        except OSError as error:
            raise TransientMailError(f"cannot write {path}: {error}") from error
        return path


def backend_from_config(config, instance_path):
    """The backend `MAIL_BACKEND` names, built from the app's settings."""
    name = config["MAIL_BACKEND"]
    if name == "file":
        return FileBackend(config.get("MAIL_FILE_DIR") or Path(instance_path) / "mail")
    if name == "smtp":
        return SmtpBackend(
            config["SMTP_HOST"],
            config["SMTP_PORT"],
            security=config["SMTP_SECURITY"],
            username=config["SMTP_USERNAME"],
            password=config["SMTP_PASSWORD"],
            timeout=config["SMTP_TIMEOUT_SECONDS"],
        )
    raise ValueError(f"MAIL_BACKEND must be `smtp` or `file`, not {name!r}")
