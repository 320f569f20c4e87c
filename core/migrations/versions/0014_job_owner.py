"""jobs: the process running each, so that one gone from its host is known at once

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-24 23:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('jobs', sa.Column('owner', sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('jobs') as batch:
        batch.drop_column('owner')
