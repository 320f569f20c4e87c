"""jobs: an index of finished jobs by when they finished, for the sweep that forgets old ones

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24 22:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f('ix_jobs_status_finished_at'), 'jobs', ['status', 'finished_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_jobs_status_finished_at'), table_name='jobs')
