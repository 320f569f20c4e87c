"""rollups and member-days keyed brand, tribe and day first: a scope's period is one range

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 06:30:00.000000
"""

from __future__ import annotations

from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

KEYS = {
    'rollups': (("brand_id", "campaign", "tribe", "network", "day", "kind", "origin"),
                ("brand_id", "tribe", "day", "campaign", "network", "kind", "origin")),
    'member_days': (("brand_id", "campaign", "tribe", "network", "day", "member_id"),
                    ("brand_id", "tribe", "day", "campaign", "network", "member_id")),
}


def _key(table: str, columns: tuple[str, ...]) -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT pk_{table}, "
                   f"ADD CONSTRAINT pk_{table} PRIMARY KEY ({', '.join(columns)})")
        return
    with op.batch_alter_table(table, recreate='always') as batch:
        batch.drop_constraint(f'pk_{table}', type_='primary')
        batch.create_primary_key(f'pk_{table}', list(columns))


def upgrade() -> None:
    for table, (_, new) in KEYS.items():
        _key(table, new)


def downgrade() -> None:
    for table, (old, _) in KEYS.items():
        _key(table, old)
