"""login_sessions.amr: how the user authenticated (RFC 8176 method references).

Reviewed by hand: a JSON list of strings, NOT NULL. The server default
'["pwd"]' fills the sessions that exist at upgrade time (all of them password
logins) and any row written without the column; authsvc itself always writes
it. Batch mode: SQLite adds the column in place (a constant default is allowed
for NOT NULL), and recreates the table to drop it on downgrade.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('amr', sa.JSON(), server_default=sa.text('\'["pwd"]\''), nullable=False)
        )


def downgrade():
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.drop_column('amr')
