"""Operator commands for other services' tokens: `flask keys ...`, `flask clients ...`."""

import click
from flask.cli import AppGroup

from . import clients, crypto, keys, mfa
from .keyring import KID_SHAPE

keys_cli = AppGroup("keys", help="Signing keys of access tokens (JWKS).")
clients_cli = AppGroup("clients", help="Clients of the introspection endpoint.")


def _when(value):
    return value.isoformat(timespec="seconds") if value else "-"


@keys_cli.command("list")
def list_keys_command():
    """Show every key: kid, algorithm, state and dates."""
    keys.ensure_keys()
    click.echo(f"{'kid':43}  {'alg':5}  {'state':8}  {'created':25}  {'verifies until':25}")
    for key in keys.list_keys():
        until = _when(key.expires_at) if key.state == "previous" else "-"
        click.echo(
            f"{key.kid:43}  {key.alg:5}  {key.state:8}  {_when(key.created_at):25}  {until:25}"
        )


@keys_cli.command("rotate")
def rotate_command():
    """Make `next` the signing key, `current` previous, and publish a new `next`."""
    keys.ensure_keys()
    try:
        rotation = keys.rotate()
    except keys.RotationConflict as error:
        raise click.ClickException(f"{error}; run it again") from None
    click.echo(f"current:  {rotation.current}")
    click.echo(f"previous: {rotation.previous or '-'}")
    click.echo(f"next:     {rotation.next}")


# A kid is base64url, so one in 64 starts with "-": read it as the argument it is,
# not as an unknown option (`flask keys revoke -- KID` works as well).
@keys_cli.command("revoke", context_settings={"ignore_unknown_options": True})
@click.argument("kid")
def revoke_command(kid):
    """Withdraw a key at once (a leaked key): its tokens stop verifying."""
    if not KID_SHAPE.fullmatch(kid):
        raise click.ClickException("not a kid (43 base64url characters)")
    try:
        state = keys.revoke(kid)
    except keys.KeyNotFound:
        raise click.ClickException(f"no live key {kid}") from None
    except keys.RotationConflict as error:
        raise click.ClickException(f"{error}; run it again") from None
    click.echo(f"Revoked {kid} (was {state})")
    if state == "current":
        click.echo("The next key signs from now on; consider `flask keys list`.")


@keys_cli.command("reencrypt")
def reencrypt_command():
    """Seal every private key and TOTP secret under the current SECRET_KEY (after rotating it)."""
    try:
        signing_keys = keys.reencrypt_all()
    except crypto.DecryptionError:
        raise click.ClickException(
            "a signing key opens with neither SECRET_KEY nor SECRET_KEY_FALLBACKS; nothing changed"
        ) from None
    try:
        totp_secrets = mfa.reencrypt_secrets()
    except mfa.UnreadableSecrets as unreadable:
        users = ", ".join(f"user {user_id} ({username})" for user_id, username in unreadable.users)
        raise click.ClickException(
            f"re-encrypted {signing_keys} signing keys, but the TOTP secret of {users} opens "
            "with neither SECRET_KEY nor SECRET_KEY_FALLBACKS; no TOTP secret changed. Add the "
            "key it was sealed under to SECRET_KEY_FALLBACKS, or remove that MFA "
            "(DELETE /api/v1/users/{id}/mfa; the user enrols again), then run this again"
        ) from None
    click.echo(f"Re-encrypted {signing_keys} signing keys and {totp_secrets} TOTP secrets")


@clients_cli.command("create")
@click.argument("name")
def create_client_command(name):
    """Register a client; its secret is printed this once."""
    try:
        client_id, secret = clients.create(name)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"client_id: {client_id}")
    click.echo(f"client_secret: {secret}")


@clients_cli.command("list")
def list_clients_command():
    """Show every client (never a secret)."""
    for client in clients.list_clients():
        click.echo(f"{client.client_id}  {client.name}  {_when(client.created_at)}")


@clients_cli.command("delete")
@click.argument("client_id")
def delete_client_command(client_id):
    """Remove a client: its credentials stop working at once."""
    if not clients.delete_client(client_id):
        raise click.ClickException(f"no client {client_id}")
    click.echo(f"Deleted {client_id}")


def register_oauth_commands(app):
    app.cli.add_command(keys_cli)
    app.cli.add_command(clients_cli)
