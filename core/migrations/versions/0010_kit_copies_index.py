"""events: an index of each brand's campaign events that can copy a kit message

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

KIT_COPIES = "campaign_id IS NOT NULL AND kind IN ('post', 'share', 'mention')"


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        # Built beside ingest, which a plain CREATE INDEX would hold up for a whole read of events.
        # A concurrent build that failed leaves an invalid index of that name: dropped first.
        with op.get_context().autocommit_block():
            op.drop_index('ix_events_kit_copies', table_name='events', if_exists=True, postgresql_concurrently=True)
            op.create_index('ix_events_kit_copies', 'events', ['brand_id', 'seq'], unique=False,
                            postgresql_where=sa.text(KIT_COPIES), postgresql_concurrently=True)
        return
    op.create_index('ix_events_kit_copies', 'events', ['brand_id', 'seq'], unique=False,
                    sqlite_where=sa.text(KIT_COPIES))


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        with op.get_context().autocommit_block():
            op.drop_index('ix_events_kit_copies', table_name='events', postgresql_concurrently=True)
        return
    op.drop_index('ix_events_kit_copies', table_name='events')
