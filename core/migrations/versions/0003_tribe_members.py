"""tribe members

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 01:11:16.164016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op



revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    
    op.create_table('tribe_members',
    sa.Column('workspace_id', sa.String(length=32), nullable=False),
    sa.Column('tribe_id', sa.String(length=32), nullable=False),
    sa.Column('member_id', sa.String(length=32), nullable=False),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tribe_id'], ['tribes.id'], name=op.f('fk_tribe_members_tribe_id_tribes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_tribe_members_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tribe_id', 'member_id', name=op.f('pk_tribe_members'))
    )
    with op.batch_alter_table('tribe_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tribe_members_workspace_id_member_id'), ['workspace_id', 'member_id'], unique=False)

    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_workspace_id_member_id', ['workspace_id', 'member_id'], unique=False)

    


def downgrade() -> None:
    
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_workspace_id_member_id')

    with op.batch_alter_table('tribe_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tribe_members_workspace_id_member_id'))

    op.drop_table('tribe_members')
    
