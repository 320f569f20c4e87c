"""member-days on SQLite: rows stored in their key's tree, without a rowid

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24 15:20:00.000000
"""

from __future__ import annotations

from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def _rowid(keep: bool) -> None:
    if op.get_bind().dialect.name != 'sqlite':
        return  # PostgreSQL has no such choice
    with op.batch_alter_table('member_days', recreate='always', table_kwargs={'sqlite_with_rowid': keep}):
        pass


def upgrade() -> None:
    _rowid(False)


def downgrade() -> None:
    _rowid(True)
