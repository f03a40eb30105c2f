"""The SMTP and file backends, against a real SMTP server (aiosmtpd) and a real directory."""

import email
import ssl
import subprocess
import time
from email import policy

import pytest

from authsvc.mail import messages
from authsvc.mail.backends import (
    FileBackend,
    PermanentMailError,
    SmtpBackend,
    TransientMailError,
    backend_from_config,
)
from testing.smtp_sink import PERMANENT_FAILURE, TEMPORARY_FAILURE, SmtpSink

FROM = "authsvc <no-reply@example.com>"


def notice(to="ada@example.com"):
    return messages.build(
        "password_changed", recipient=to, mail_from=FROM, values={"username": "ada"}
    )


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 and a client context that trusts it."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    return server, client


def send(backend, message):
    with backend.connection() as connection:
        connection.send(message)


def test_smtp_without_tls_delivers_the_message(sink):
    send(SmtpBackend("127.0.0.1", sink.port, security="none"), notice())
    (received,) = sink.wait_for(1)
    assert received.rcpt_tos == ["ada@example.com"]
    assert received.mail_from == "no-reply@example.com"
    assert received.message["Subject"] == "Your password was changed"
    assert "was just changed" in received.text


def test_smtp_auth_logs_in_and_a_wrong_password_is_retried_later():
    with SmtpSink(credentials=("mailer", "s3cret")) as sink:
        good = SmtpBackend(
            "127.0.0.1", sink.port, security="none", username="mailer", password="s3cret"
        )
        send(good, notice())
        assert sink.wait_for(1)[0].authenticated is True

        wrong = SmtpBackend(
            "127.0.0.1", sink.port, security="none", username="mailer", password="guess"
        )
        with pytest.raises(TransientMailError):
            send(wrong, notice())
        assert len(sink.received) == 1


def test_starttls_upgrades_the_connection(certificate):
    server_context, client_context = certificate
    with SmtpSink(tls_context=server_context, require_starttls=True) as sink:
        backend = SmtpBackend(
            "127.0.0.1", sink.port, security="starttls", ssl_context=client_context
        )
        send(backend, notice())
        assert len(sink.wait_for(1)) == 1
        # Control: the same server refuses a client that skips STARTTLS.
        with pytest.raises(TransientMailError, match="530"):
            send(SmtpBackend("127.0.0.1", sink.port, security="none"), notice())
        assert len(sink.received) == 1


def test_starttls_refuses_a_certificate_it_does_not_trust(certificate):
    server_context, _client_context = certificate
    with SmtpSink(tls_context=server_context) as sink:
        with pytest.raises(TransientMailError):
            send(SmtpBackend("127.0.0.1", sink.port, security="starttls"), notice())
        assert sink.received == []


def test_implicit_ssl(certificate):
    server_context, client_context = certificate
    with SmtpSink(ssl_context=server_context) as sink:
        backend = SmtpBackend("127.0.0.1", sink.port, security="ssl", ssl_context=client_context)
        send(backend, notice())
        assert len(sink.wait_for(1)) == 1


@pytest.mark.parametrize(
    ("mode", "error"),
    [(TEMPORARY_FAILURE, TransientMailError), (PERMANENT_FAILURE, PermanentMailError)],
)
def test_a_refusal_is_sorted_by_its_reply_code(sink, mode, error):
    backend = SmtpBackend("127.0.0.1", sink.port, security="none")
    sink.refuse(mode)
    with pytest.raises(error, match=mode):
        send(backend, notice())
    assert sink.received == []
    sink.refuse("accept")
    send(backend, notice())
    assert len(sink.wait_for(1)) == 1


def test_a_server_that_is_down_is_a_transient_failure_and_fails_fast(sink):
    port = sink.port
    sink.stop()
    started = time.monotonic()
    with pytest.raises(TransientMailError, match="cannot reach"):
        send(SmtpBackend("127.0.0.1", port, security="none", timeout=2), notice())
    assert time.monotonic() - started < 3


def test_a_server_that_never_answers_times_out(sink):
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        started = time.monotonic()
        with pytest.raises(TransientMailError):
            send(
                SmtpBackend("127.0.0.1", silent.getsockname()[1], security="none", timeout=1),
                notice(),
            )
        assert time.monotonic() - started < 2.5


def test_file_backend_writes_whole_eml_files(tmp_path):
    backend = FileBackend(tmp_path / "mail")
    with backend.connection() as connection:
        first = connection.send(notice("ada@example.com"))
        second = connection.send(notice("bob@example.com"))
    assert first != second
    assert sorted(p.suffix for p in (tmp_path / "mail").iterdir()) == [".eml", ".eml"]
    parsed = email.message_from_bytes(second.read_bytes(), policy=policy.default)
    assert parsed["To"] == "bob@example.com"
    assert parsed["From"] == FROM


def test_backend_from_config_names_smtp_or_file(tmp_path):
    config = {
        "MAIL_BACKEND": "smtp",
        "SMTP_HOST": "mail.example",
        "SMTP_PORT": 465,
        "SMTP_SECURITY": "ssl",
        "SMTP_USERNAME": None,
        "SMTP_PASSWORD": None,
        "SMTP_TIMEOUT_SECONDS": 7,
    }
    smtp = backend_from_config(config, tmp_path)
    assert (smtp.host, smtp.port, smtp.security, smtp.timeout) == ("mail.example", 465, "ssl", 7)
    assert backend_from_config({"MAIL_BACKEND": "file"}, tmp_path).directory == tmp_path / "mail"
    with pytest.raises(ValueError, match="MAIL_BACKEND"):
        backend_from_config({"MAIL_BACKEND": "carrier-pigeon"}, tmp_path)
