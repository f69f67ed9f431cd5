"""fund_projects.carry_forward_request: part of an allocation requested to carry into next year

Needed to tell a formal carry-forward request (2017/18: Guns & Gangs GBP 100k) from slippage.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 09:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('fund_projects',
                  sa.Column('carry_forward_request', sa.Numeric(precision=14, scale=2),
                            nullable=True))


def downgrade() -> None:
    op.drop_column('fund_projects', 'carry_forward_request')
