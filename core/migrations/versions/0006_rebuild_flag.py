"""aggregation state: a flag for brands whose history must be recomputed, two counters

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 04:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('agg_state') as batch:
        batch.add_column(sa.Column('rebuild', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('touches', sa.BigInteger(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('restates', sa.BigInteger(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('agg_state') as batch:
        batch.drop_column('restates')
        batch.drop_column('touches')
        batch.drop_column('rebuild')
