"""user_roles, user_lcsps, audit_log: role assignments and the DPA 2018 s.62 audit log

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 10:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'user_roles',
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('role', sa.String(length=20), nullable=False),
        sa.Column('display_name', sa.String(length=200), nullable=True),
        sa.Column('granted_by', sa.String(length=254), nullable=False),
        sa.Column('granted_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('email'),
    )
    op.create_table(
        'user_lcsps',
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('lcsp_code', sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint('email', 'lcsp_code'),
    )
    op.execute(sa.schema.CreateSequence(sa.Sequence('audit_log_event_id_seq')))
    op.create_table(
        'audit_log',
        sa.Column('event_id', sa.Integer(), sa.Sequence('audit_log_event_id_seq'), nullable=False),
        sa.Column('occurred_at', sa.DateTime(), nullable=False),
        sa.Column('user_email', sa.String(length=254), nullable=False),
        sa.Column('user_role', sa.String(length=20), nullable=False),
        sa.Column('action', sa.String(length=20), nullable=False),
        sa.Column('page', sa.String(length=40), nullable=False),
        sa.Column('detail', sa.Text(), nullable=False),
        sa.Column('file_name', sa.String(length=200), nullable=True),
        sa.Column('rows', sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint('event_id'),
    )
    op.create_index('ix_audit_log_occurred_at', 'audit_log', ['occurred_at'])


def downgrade() -> None:
    op.drop_index('ix_audit_log_occurred_at', table_name='audit_log')
    op.drop_table('audit_log')
    op.execute(sa.schema.DropSequence(sa.Sequence('audit_log_event_id_seq')))
    op.drop_table('user_lcsps')
    op.drop_table('user_roles')
