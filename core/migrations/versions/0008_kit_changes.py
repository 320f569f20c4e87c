"""aggregation state: a counter of kit message changes still to be measured

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 05:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('agg_state') as batch:
        batch.add_column(sa.Column('kit_changes', sa.BigInteger(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('agg_state') as batch:
        batch.drop_column('kit_changes')
