"""Operator commands: `flask seed-admin`, `flask prune-tokens`."""

import click
from flask.cli import with_appcontext
from marshmallow import ValidationError

from . import accounts, admin, email_flows, mfa_login, passkeys, sessions
from .errors import ServiceError
from .mail.commands import mail_group
from .oauth_cli import register_oauth_commands
from .schemas.accounts import RegisterSchema

# The same rules as registration, so an admin's name can log in like anyone's.
NAMES = RegisterSchema(only=("email", "username"))


@click.command("seed-admin")
@click.option("--email", required=True, help="The admin's email address.")
@click.option("--username", required=True, help="The admin's username.")
@click.option(
    "--password",
    default=None,
    help="The new admin's password; asked for (twice) when not given. An existing "
    "user's password is left unchanged (set it with PUT /api/v1/users/{id}).",
)
@with_appcontext
def seed_admin_command(email, username, password):
    """Create an admin, or make an existing user admin (idempotent).

    Running it again changes nothing: for an existing user, the password stays
    the one they have, whatever --password says.
    """
    try:
        names = NAMES.load({"email": email, "username": username})
    except ValidationError as error:
        problems = [f"{field}: {' '.join(msgs)}" for field, msgs in error.messages.items()]
        raise click.ClickException("; ".join(problems)) from None
    email, username = names["email"], names["username"]
    if (
        password is None
        and accounts.find_by_login(email) is None
        and accounts.find_by_login(username) is None
    ):
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user, created = admin.seed_admin(email, username, password)
    except ServiceError as error:
        problems = [msg for msgs in (error.errors or {}).values() for msg in msgs]
        raise click.ClickException(" ".join([error.detail, *problems])) from None
    verb = "Created admin" if created else "Admin ready:"
    click.echo(f"{verb} {user.username} <{user.email}> (id {user.id})")
    if password is not None and not created:
        click.echo(
            "Password unchanged: --password only sets the password of a new admin; "
            f"{user.username} keeps theirs (an admin can set it with PUT /api/v1/users/{user.id})."
        )


@click.command("prune-tokens")
@with_appcontext
def prune_tokens_command():
    """Delete expired sessions, refresh-token rows, spent or expired passkey challenges,
    MFA logins and email tokens, and mail rows finished a week ago."""
    pruned, refresh_tokens = sessions.prune_expired()
    click.echo(f"Pruned {pruned} expired sessions and {refresh_tokens} expired refresh tokens")
    challenges = passkeys.prune_challenges()
    click.echo(f"Pruned {challenges} spent or expired passkey challenges")
    click.echo(f"Pruned {mfa_login.prune_expired()} expired or spent MFA logins")
    email_tokens, mails = email_flows.prune()
    click.echo(f"Pruned {email_tokens} spent or expired email tokens and {mails} finished mails")


def register_commands(app):
    app.cli.add_command(mail_group)
    app.cli.add_command(seed_admin_command)
    app.cli.add_command(prune_tokens_command)
    register_oauth_commands(app)
