"""login_sessions.amr: how the user authenticated (RFC 8176 method references).

Reviewed by hand: a JSON list of strings, NOT NULL. The server default
'["pwd"]' fills the sessions that exist at upgrade time (all of them password
logins) and any row written without the column; authsvc itself always writes
it. No batch mode: with an SQL-expression default, batch mode rebuilds
`login_sessions` on SQLite, and that DROP TABLE cascades to every refresh
token. A plain-string default lets both backends add the column in place, and
both drop it in place on downgrade (SQLite since 3.35).

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
    op.add_column(
        'login_sessions',
        sa.Column('amr', sa.JSON(), server_default='["pwd"]', nullable=False),
    )


def downgrade():
    op.execute('ALTER TABLE login_sessions DROP COLUMN amr')
