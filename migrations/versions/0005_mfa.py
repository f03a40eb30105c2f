"""MFA: TOTP factors, recovery codes, pending MFA logins; users.mfa_enabled.

Reviewed by hand: totp_factors holds one factor per user (user_id is the key;
the secret is AES-GCM ciphertext, never the base32 secret), last_used_step is
a BigInteger (30 s steps since 1970 outgrow nothing, but they are compared,
not counted). recovery_codes and mfa_challenges store SHA-256 digests only;
(user_id, code_hash) is unique and serves the spend's lookup;
mfa_challenges.expires_at is indexed for pruning. Every foreign key cascades,
so deleting a user removes their factors. users.mfa_enabled is NOT NULL with
a server default of false, which fills the rows that exist at upgrade time;
the column is added and dropped in place on both backends, never by
recreating `users` (see the comments below).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('mfa_challenges',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('failed_attempts', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_mfa_challenges_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_mfa_challenges'))
    )
    with op.batch_alter_table('mfa_challenges', schema=None) as batch_op:
        batch_op.create_index('ix_mfa_challenges_expires_at', ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_mfa_challenges_user_id'), ['user_id'], unique=False)

    op.create_table('recovery_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_recovery_codes_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_codes')),
    sa.UniqueConstraint('user_id', 'code_hash', name='uq_recovery_codes_user_code')
    )
    op.create_table('totp_factors',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('secret_encrypted', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_used_step', sa.BigInteger(), nullable=True),
    sa.Column('failed_attempts', sa.Integer(), nullable=False),
    sa.Column('locked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_totp_factors_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_totp_factors'))
    )
    # A plain-string default: with an SQL expression, batch mode would recreate
    # `users` on SQLite, and dropping it cascades to every session and token.
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('mfa_enabled', sa.Boolean(), server_default='0', nullable=False)
        )


def downgrade():
    # Not batch mode: it would recreate `users` on SQLite (cascading to every
    # session); both backends drop a plain column in place (SQLite since 3.35).
    op.execute('ALTER TABLE users DROP COLUMN mfa_enabled')

    op.drop_table('totp_factors')
    op.drop_table('recovery_codes')
    with op.batch_alter_table('mfa_challenges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mfa_challenges_user_id'))
        batch_op.drop_index('ix_mfa_challenges_expires_at')

    op.drop_table('mfa_challenges')
