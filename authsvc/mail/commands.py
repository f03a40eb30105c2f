"""`flask mail send-pending`: deliver the mail that is due, in the foreground."""

import click
from flask.cli import AppGroup

from . import outbox, sender

mail_group = AppGroup("mail", help="The mail outbox.")


@mail_group.command("send-pending")
def send_pending_command():
    """Deliver every mail that is due now; print what happened."""
    tally = sender.send_pending()
    counts, oldest = outbox.counts()
    click.echo(
        f"Sent {tally['sent']}, skipped {tally['skipped']}, deferred {tally['deferred']}, "
        f"failed {tally['failed']}; {counts[outbox.PENDING]} pending"
        + (f" (oldest {oldest:.0f} s)" if counts[outbox.PENDING] else "")
    )
