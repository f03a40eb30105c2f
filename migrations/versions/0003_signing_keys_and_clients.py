"""Signing keys of access tokens, and introspection clients.

Reviewed by hand: signing_keys.kid is the RFC 7638 thumbprint (43 characters)
and the primary key; private_key holds the AES-GCM-sealed PKCS#8 PEM (never
plain), public_jwk the published JWK. Two partial unique indexes allow at most
one `current` and one `next` key, so workers racing to make the first key
cannot both succeed (SQLite and PostgreSQL both support partial indexes).
oauth_clients stores the SHA-256 of each client secret, never the secret.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('signing_keys',
    sa.Column('kid', sa.String(length=64), nullable=False),
    sa.Column('alg', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('private_key', sa.Text(), nullable=False),
    sa.Column('public_jwk', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('activated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('kid', name=op.f('pk_signing_keys'))
    )
    with op.batch_alter_table('signing_keys', schema=None) as batch_op:
        batch_op.create_index('uq_signing_keys_current', ['state'], unique=True, postgresql_where=sa.text("state = 'current'"), sqlite_where=sa.text("state = 'current'"))
        batch_op.create_index('uq_signing_keys_next', ['state'], unique=True, postgresql_where=sa.text("state = 'next'"), sqlite_where=sa.text("state = 'next'"))

    op.create_table('oauth_clients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oauth_clients')),
    sa.UniqueConstraint('client_id', name=op.f('uq_oauth_clients_client_id'))
    )


def downgrade():
    op.drop_table('oauth_clients')
    with op.batch_alter_table('signing_keys', schema=None) as batch_op:
        batch_op.drop_index('uq_signing_keys_next')
        batch_op.drop_index('uq_signing_keys_current')

    op.drop_table('signing_keys')
