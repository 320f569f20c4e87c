"""event facts keep only events with conversation links

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 03:30:00.000000
"""

from __future__ import annotations

from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows without any link add nothing an aggregation run would subtract: their own facts
    # already sit in the rollups and member-days, which stay as they are.
    op.execute("DELETE FROM event_facts WHERE answered = 0 AND m2m_reply = 0 AND q_answered = 0 "
               "AND q_community = 0 AND answer_other_q = 0")


def downgrade() -> None:
    # The removed rows are recomputed by a rebuild (POST /v1/jobs, kind scorecards.rebuild).
    pass
