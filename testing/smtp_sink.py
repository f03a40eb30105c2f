"""A real SMTP server for tests (aiosmtpd on 127.0.0.1, or a given address, a free port).

It keeps every message it accepts, parsed, with the sender's address and the
time it arrived, and can be stopped and started
again on the same port (a mail server that is down, then back), or told to
refuse messages with a 4xx or a 5xx reply.
"""

import email
import threading
import time
from email import policy

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from testing.live_server import free_port

ACCEPT, TEMPORARY_FAILURE, PERMANENT_FAILURE = "accept", "451", "550"
REPLIES = {
    TEMPORARY_FAILURE: "451 4.3.0 Try again later",
    PERMANENT_FAILURE: "550 5.1.1 Mailbox unavailable",
}


class SinkHandler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_DATA(self, server, session, envelope):
        with self.sink.lock:
            self.sink.attempts += 1
            mode = self.sink.mode
            if mode != ACCEPT:
                return REPLIES[mode]
            message = email.message_from_bytes(envelope.content, policy=policy.default)
            self.sink.received.append(
                Received(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    message,
                    session.authenticated,
                    peer=session.peer[0] if session.peer else None,
                )
            )
        return "250 Message accepted for delivery"


class Received:
    def __init__(self, mail_from, rcpt_tos, message, authenticated, peer=None):
        self.mail_from, self.rcpt_tos, self.message = mail_from, rcpt_tos, message
        self.authenticated = authenticated
        self.peer = peer  # the client's IP address
        self.at = time.time()

    @property
    def text(self):
        return self.message.get_body(("plain",)).get_content()

    @property
    def html(self):
        return self.message.get_body(("html",)).get_content()


class SmtpSink:
    """`with SmtpSink() as sink:` serves on `sink.port` until the block ends."""

    def __init__(self, *, hostname="127.0.0.1", credentials=None, **controller_args):
        self.hostname = hostname
        self.port = free_port(hostname)
        self.received = []
        self.attempts = 0
        self.mode = ACCEPT
        self.lock = threading.Lock()
        self.credentials = credentials
        self.controller_args = controller_args
        self.controller = None

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        expected = self.credentials
        login = (auth_data.login.decode(), auth_data.password.decode())
        return AuthResult(success=login == expected)

    def start(self):
        extra = dict(self.controller_args)
        if self.credentials:
            extra.update(authenticator=self._authenticate, auth_require_tls=False)
        self.controller = Controller(
            SinkHandler(self), hostname=self.hostname, port=self.port, **extra
        )
        self.controller.start()
        return self

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def settings(self, **extra):
        """authsvc's settings that send mail here (plain SMTP on 127.0.0.1), plus `extra`."""
        return {
            "MAIL_BACKEND": "smtp",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": self.port,
            "SMTP_SECURITY": "none",
            **extra,
        }

    def refuse(self, mode):
        with self.lock:
            self.mode = mode

    def messages_to(self, address):
        with self.lock:
            return [item for item in self.received if address in item.rcpt_tos]

    def wait_for(self, count, timeout=20.0, address=None):
        """The received messages (to `address`, if given) once there are `count` of them."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                found = [
                    item for item in self.received if address is None or address in item.rcpt_tos
                ]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
