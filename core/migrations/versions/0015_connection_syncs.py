"""connections: minutes between automatic syncs; jobs: their brand, now that a sync's turns are its connection's

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-25 03:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('connections', sa.Column('sync_every_minutes', sa.Integer(), nullable=True))
    op.add_column('jobs', sa.Column('brand_id', sa.String(length=32), nullable=True))
    # Every job so far is a scorecard job, whose turns are its brand's.
    op.execute("UPDATE jobs SET brand_id = subject")
    op.create_index(op.f('ix_jobs_brand_id_status'), 'jobs', ['brand_id', 'status'])


def downgrade() -> None:
    op.drop_index(op.f('ix_jobs_brand_id_status'), table_name='jobs')
    op.execute("DELETE FROM jobs WHERE kind = 'connections.sync'")
    with op.batch_alter_table('jobs') as batch:
        batch.drop_column('brand_id')
    with op.batch_alter_table('connections') as batch:
        batch.drop_column('sync_every_minutes')
