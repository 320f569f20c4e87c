"""events: whether the event's kind counts as taking part, decided when it is stored

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-24 23:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

# The built-in kinds by which a member takes part, as they were counted before this column.
ACTIVE_KINDS = ("reply", "comment", "share", "mention", "post", "question", "answer", "vote")


def upgrade() -> None:
    op.add_column('events', sa.Column('active', sa.Boolean(), server_default=sa.false(), nullable=False))
    events = sa.table('events', sa.column('kind', sa.String()), sa.column('active', sa.Boolean()))
    op.execute(events.update().where(events.c.kind.in_(ACTIVE_KINDS)).values(active=True))


def downgrade() -> None:
    op.drop_column('events', 'active')
