"""Mail: the outbox, its sender, the SMTP and file backends, the messages."""
