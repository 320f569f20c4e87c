"""aggregation and jobs

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 01:36:09.006150
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sqlalchemy.dialects import postgresql

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    
    op.create_table('event_facts',
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('tribe', sa.String(length=32), nullable=False),
    sa.Column('workspace_id', sa.String(length=32), nullable=False),
    sa.Column('brand_id', sa.String(length=32), nullable=False),
    sa.Column('campaign', sa.String(length=32), nullable=False),
    sa.Column('network', sa.String(length=32), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('origin', sa.String(length=8), nullable=False),
    sa.Column('member_id', sa.String(length=32), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('paid', sa.Integer(), nullable=False),
    sa.Column('message', sa.Integer(), nullable=False),
    sa.Column('answered', sa.Integer(), nullable=False),
    sa.Column('thread_start', sa.Integer(), nullable=False),
    sa.Column('m_reply', sa.Integer(), nullable=False),
    sa.Column('m2m_reply', sa.Integer(), nullable=False),
    sa.Column('q_answered', sa.Integer(), nullable=False),
    sa.Column('q_community', sa.Integer(), nullable=False),
    sa.Column('thanks', sa.Integer(), nullable=False),
    sa.Column('positive_amp', sa.Integer(), nullable=False),
    sa.Column('answer_other_q', sa.Integer(), nullable=False),
    sa.Column('mega_text', sa.Integer(), nullable=False),
    sa.Column('mega_copy', sa.Integer(), nullable=False),
    sa.Column('active', sa.Integer(), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('response_minutes', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('seq', 'tribe', name=op.f('pk_event_facts'))
    )
    with op.batch_alter_table('event_facts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_event_facts_brand_id_tribe_day'), ['brand_id', 'tribe', 'day'], unique=False)

    op.create_table('member_days',
    sa.Column('brand_id', sa.String(length=32), nullable=False),
    sa.Column('campaign', sa.String(length=32), nullable=False),
    sa.Column('tribe', sa.String(length=32), nullable=False),
    sa.Column('network', sa.String(length=32), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('member_id', sa.String(length=32), nullable=False),
    sa.Column('workspace_id', sa.String(length=32), nullable=False),
    sa.Column('active', sa.BigInteger(), nullable=False),
    sa.Column('positive_amp', sa.BigInteger(), nullable=False),
    sa.Column('answer_other_q', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('brand_id', 'campaign', 'tribe', 'network', 'day', 'member_id', name=op.f('pk_member_days'))
    )
    op.create_table('rollups',
    sa.Column('brand_id', sa.String(length=32), nullable=False),
    sa.Column('campaign', sa.String(length=32), nullable=False),
    sa.Column('tribe', sa.String(length=32), nullable=False),
    sa.Column('network', sa.String(length=32), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('origin', sa.String(length=8), nullable=False),
    sa.Column('workspace_id', sa.String(length=32), nullable=False),
    sa.Column('n', sa.BigInteger(), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('message', sa.BigInteger(), nullable=False),
    sa.Column('answered', sa.BigInteger(), nullable=False),
    sa.Column('thread_start', sa.BigInteger(), nullable=False),
    sa.Column('m_reply', sa.BigInteger(), nullable=False),
    sa.Column('m2m_reply', sa.BigInteger(), nullable=False),
    sa.Column('q_answered', sa.BigInteger(), nullable=False),
    sa.Column('q_community', sa.BigInteger(), nullable=False),
    sa.Column('thanks', sa.BigInteger(), nullable=False),
    sa.Column('mega_text', sa.BigInteger(), nullable=False),
    sa.Column('mega_copy', sa.BigInteger(), nullable=False),
    sa.Column('active', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('brand_id', 'campaign', 'tribe', 'network', 'day', 'kind', 'origin', name=op.f('pk_rollups'))
    )
    op.create_table('agg_state',
    sa.Column('workspace_id', sa.String(length=32), nullable=False),
    sa.Column('brand_id', sa.String(length=32), nullable=False),
    sa.Column('watermark', sa.BigInteger(), nullable=False),
    sa.Column('pending', sa.Integer(), nullable=False),
    sa.Column('fresh_as_of', sa.DateTime(timezone=True), nullable=True),
    sa.Column('touched_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_agg_state_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('brand_id', name=op.f('pk_agg_state'))
    )
    op.create_table('jobs',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('workspace_id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=32), nullable=True),
    sa.Column('params', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('result', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('errors', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_jobs_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs'))
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_jobs_status_created_at'), ['status', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_jobs_subject_status'), ['subject', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_jobs_workspace_id_id'), ['workspace_id', 'id'], unique=False)

    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kit_similarity', sa.Float(), nullable=True))
        batch_op.create_index('ix_events_brand_id_seq', ['brand_id', 'seq'], unique=False)
        batch_op.create_index('ix_events_workspace_id_in_reply_to', ['workspace_id', 'in_reply_to'], unique=False)

    


def downgrade() -> None:
    
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_workspace_id_in_reply_to')
        batch_op.drop_index('ix_events_brand_id_seq')
        batch_op.drop_column('kit_similarity')

    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_jobs_workspace_id_id'))
        batch_op.drop_index(batch_op.f('ix_jobs_subject_status'))
        batch_op.drop_index(batch_op.f('ix_jobs_status_created_at'))

    op.drop_table('jobs')
    op.drop_table('agg_state')
    op.drop_table('rollups')
    op.drop_table('member_days')
    with op.batch_alter_table('event_facts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_event_facts_brand_id_tribe_day'))

    op.drop_table('event_facts')
    
