"""SQLite: a new member identity brings its member row with it

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 23:30:00.000000
"""

from __future__ import annotations

from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

# Ingest on SQLite inserts each batch's accounts into member_identities in one statement
# (new ones with a fresh member id, known ones updated): the trigger adds the member of each
# new identity in that same statement, instead of a second statement over the same accounts.
# An identity whose member already exists adds nothing. PostgreSQL inserts members itself.
TRIGGER = """
CREATE TRIGGER IF NOT EXISTS member_identities_new_member AFTER INSERT ON member_identities
WHEN NOT EXISTS (SELECT 1 FROM members WHERE id = NEW.member_id)
BEGIN
    INSERT INTO members (id, workspace_id, merged_into, created_at, updated_at)
    VALUES (NEW.member_id, NEW.workspace_id, NULL, NEW.first_seen_at, NEW.first_seen_at);
END
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        op.execute(TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('DROP TRIGGER IF EXISTS member_identities_new_member')
