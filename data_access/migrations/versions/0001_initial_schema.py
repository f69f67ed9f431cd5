"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-21 07:40:18.783869
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('actions',
    sa.Column('action_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('board', sa.String(length=100), nullable=False),
    sa.Column('owner', sa.String(length=120), nullable=True),
    sa.Column('lcsp_code', sa.String(length=32), nullable=True),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('status_date', sa.Date(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('action_id')
    )
    op.create_table('agg_cell_month',
    sa.Column('cell_size', sa.Integer(), nullable=False),
    sa.Column('cell_id', sa.BigInteger(), nullable=False),
    sa.Column('month_start', sa.Date(), nullable=False),
    sa.Column('lcsp_code', sa.String(length=32), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('category', sa.String(length=80), nullable=False),
    sa.Column('subcategory', sa.String(length=80), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('n_domestic_abuse', sa.Integer(), nullable=False),
    sa.Column('n_vawg', sa.Integer(), nullable=False),
    sa.Column('n_alcohol', sa.Integer(), nullable=False),
    sa.Column('n_weapon', sa.Integer(), nullable=False),
    sa.Column('n_hate', sa.Integer(), nullable=False),
    sa.Column('n_repeat', sa.Integer(), nullable=False)
    )
    op.create_index('ix_agg_cell_month', 'agg_cell_month', ['cell_size', 'month_start', 'category'], unique=False)
    op.create_table('agg_day_ward',
    sa.Column('incident_date', sa.Date(), nullable=False),
    sa.Column('month_start', sa.Date(), nullable=False),
    sa.Column('iso_year', sa.Integer(), nullable=False),
    sa.Column('iso_week', sa.SmallInteger(), nullable=False),
    sa.Column('ward_code', sa.String(length=32), nullable=False),
    sa.Column('lcsp_code', sa.String(length=32), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('category', sa.String(length=80), nullable=False),
    sa.Column('subcategory', sa.String(length=80), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('n_domestic_abuse', sa.Integer(), nullable=False),
    sa.Column('n_vawg', sa.Integer(), nullable=False),
    sa.Column('n_alcohol', sa.Integer(), nullable=False),
    sa.Column('n_weapon', sa.Integer(), nullable=False),
    sa.Column('n_hate', sa.Integer(), nullable=False),
    sa.Column('n_repeat', sa.Integer(), nullable=False)
    )
    op.create_index('ix_agg_day_ward', 'agg_day_ward', ['incident_date', 'category'], unique=False)
    op.create_table('agg_hour_weekday',
    sa.Column('month_start', sa.Date(), nullable=False),
    sa.Column('weekday', sa.SmallInteger(), nullable=False),
    sa.Column('hour', sa.SmallInteger(), nullable=False),
    sa.Column('lcsp_code', sa.String(length=32), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('category', sa.String(length=80), nullable=False),
    sa.Column('subcategory', sa.String(length=80), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('n_domestic_abuse', sa.Integer(), nullable=False),
    sa.Column('n_vawg', sa.Integer(), nullable=False),
    sa.Column('n_alcohol', sa.Integer(), nullable=False),
    sa.Column('n_weapon', sa.Integer(), nullable=False),
    sa.Column('n_hate', sa.Integer(), nullable=False),
    sa.Column('n_repeat', sa.Integer(), nullable=False)
    )
    op.create_index('ix_agg_hour_weekday', 'agg_hour_weekday', ['month_start', 'category'], unique=False)
    op.create_table('agg_month_lsoa',
    sa.Column('month_start', sa.Date(), nullable=False),
    sa.Column('fy_start', sa.Integer(), nullable=False),
    sa.Column('lsoa_code', sa.String(length=32), nullable=False),
    sa.Column('ward_code', sa.String(length=32), nullable=False),
    sa.Column('lcsp_code', sa.String(length=32), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('category', sa.String(length=80), nullable=False),
    sa.Column('subcategory', sa.String(length=80), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('n_domestic_abuse', sa.Integer(), nullable=False),
    sa.Column('n_vawg', sa.Integer(), nullable=False),
    sa.Column('n_alcohol', sa.Integer(), nullable=False),
    sa.Column('n_weapon', sa.Integer(), nullable=False),
    sa.Column('n_hate', sa.Integer(), nullable=False),
    sa.Column('n_repeat', sa.Integer(), nullable=False)
    )
    op.create_index('ix_agg_month_lsoa', 'agg_month_lsoa', ['month_start', 'category'], unique=False)
    op.create_table('agg_month_ward',
    sa.Column('month_start', sa.Date(), nullable=False),
    sa.Column('fy_start', sa.Integer(), nullable=False),
    sa.Column('fy_quarter', sa.SmallInteger(), nullable=False),
    sa.Column('ward_code', sa.String(length=32), nullable=False),
    sa.Column('lcsp_code', sa.String(length=32), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('category', sa.String(length=80), nullable=False),
    sa.Column('subcategory', sa.String(length=80), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('n_domestic_abuse', sa.Integer(), nullable=False),
    sa.Column('n_vawg', sa.Integer(), nullable=False),
    sa.Column('n_alcohol', sa.Integer(), nullable=False),
    sa.Column('n_weapon', sa.Integer(), nullable=False),
    sa.Column('n_hate', sa.Integer(), nullable=False),
    sa.Column('n_repeat', sa.Integer(), nullable=False)
    )
    op.create_index('ix_agg_month_ward', 'agg_month_ward', ['month_start', 'lcsp_code'], unique=False)
    op.create_table('area_membership',
    sa.Column('child_code', sa.String(length=32), nullable=False),
    sa.Column('parent_code', sa.String(length=32), nullable=False),
    sa.Column('fy_from', sa.Integer(), nullable=False),
    sa.Column('fy_to', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('child_code', 'parent_code', 'fy_from')
    )
    op.create_table('areas',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('parent_code', sa.String(length=32), nullable=True),
    sa.Column('population', sa.Integer(), nullable=True),
    sa.Column('centroid_lon', sa.Double(), nullable=True),
    sa.Column('centroid_lat', sa.Double(), nullable=True),
    sa.Column('boundary_geojson', sa.Text(), nullable=True),
    sa.Column('boundary_source', sa.String(length=100), nullable=True),
    sa.CheckConstraint("level in ('partnership','lcsp','ward','lsoa')", name='ck_areas_level'),
    sa.PrimaryKeyConstraint('code')
    )
    op.create_index('ix_areas_level_parent', 'areas', ['level', 'parent_code'], unique=False)
    op.create_table('categories',
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('category', sa.String(length=80), nullable=False),
    sa.Column('label', sa.String(length=120), nullable=False),
    sa.Column('is_asb', sa.Boolean(), nullable=False),
    sa.Column('is_sensitive', sa.Boolean(), nullable=False),
    sa.Column('sort_order', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('source', 'category')
    )
    op.create_table('dataset_info',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('events',
    sa.Column('event_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=False),
    sa.Column('area_code', sa.String(length=32), nullable=True),
    sa.Column('longitude', sa.Double(), nullable=True),
    sa.Column('latitude', sa.Double(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('event_id')
    )
    op.create_index('ix_events_dates', 'events', ['start_date', 'end_date'], unique=False)
    op.create_table('fund_allocations',
    sa.Column('project_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('funding', sa.String(length=16), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.PrimaryKeyConstraint('project_id', 'funding')
    )
    op.create_table('fund_projects',
    sa.Column('project_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('fy_start', sa.Integer(), nullable=False),
    sa.Column('priority', sa.String(length=120), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('lcsp_code', sa.String(length=32), nullable=True),
    sa.Column('provider', sa.String(length=200), nullable=True),
    sa.Column('bid_amount', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('bid_date', sa.Date(), nullable=True),
    sa.Column('decision', sa.String(length=16), nullable=False),
    sa.Column('decision_body', sa.String(length=32), nullable=True),
    sa.Column('decision_date', sa.Date(), nullable=True),
    sa.Column('decision_reason', sa.Text(), nullable=True),
    sa.Column('outcome_evaluation', sa.Text(), nullable=True),
    sa.Column('carried_from_project_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('project_id')
    )
    op.create_index('ix_fund_projects_fy', 'fund_projects', ['fy_start'], unique=False)
    op.create_table('fund_returns',
    sa.Column('return_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('fy_start', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('submitted_date', sa.Date(), nullable=True),
    sa.PrimaryKeyConstraint('return_id')
    )
    op.create_table('fund_spend',
    sa.Column('project_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('month_start', sa.Date(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('profile_amount', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('import_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('project_id', 'month_start')
    )
    op.create_table('fund_years',
    sa.Column('fy_start', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('financial_year', sa.String(length=7), nullable=False),
    sa.Column('grant_before_top_slice', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('top_slice', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('carry_forward_requested', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('carry_forward_top_slice', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('carry_forward_approved', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('pdg_approval_limit', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('fy_start')
    )
    op.create_table('imports',
    sa.Column('import_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=True),
    sa.Column('file_name', sa.String(length=300), nullable=True),
    sa.Column('loaded_by', sa.String(length=120), nullable=True),
    sa.Column('loaded_at', sa.DateTime(), nullable=False),
    sa.Column('rows_read', sa.Integer(), nullable=False),
    sa.Column('rows_added', sa.Integer(), nullable=False),
    sa.Column('rows_replaced', sa.Integer(), nullable=False),
    sa.Column('rows_rejected', sa.Integer(), nullable=False),
    sa.Column('period_from', sa.Date(), nullable=True),
    sa.Column('period_to', sa.Date(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('import_id')
    )
    op.create_table('incidents',
    sa.Column('incident_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('source_ref', sa.String(length=80), nullable=True),
    sa.Column('category', sa.String(length=80), nullable=False),
    sa.Column('subcategory', sa.String(length=80), nullable=True),
    sa.Column('incident_date', sa.Date(), nullable=False),
    sa.Column('date_precision', sa.String(length=8), nullable=False),
    sa.Column('hour', sa.SmallInteger(), nullable=True),
    sa.Column('longitude', sa.Double(), nullable=True),
    sa.Column('latitude', sa.Double(), nullable=True),
    sa.Column('location_text', sa.String(length=200), nullable=True),
    sa.Column('lsoa_code', sa.String(length=32), nullable=True),
    sa.Column('ward_code', sa.String(length=32), nullable=True),
    sa.Column('lcsp_code', sa.String(length=32), nullable=True),
    sa.Column('is_domestic_abuse', sa.Boolean(), nullable=False),
    sa.Column('is_vawg', sa.Boolean(), nullable=False),
    sa.Column('is_alcohol', sa.Boolean(), nullable=False),
    sa.Column('is_weapon', sa.Boolean(), nullable=False),
    sa.Column('is_hate', sa.Boolean(), nullable=False),
    sa.Column('is_repeat', sa.Boolean(), nullable=False),
    sa.Column('fy_start', sa.Integer(), nullable=False),
    sa.Column('financial_year', sa.String(length=7), nullable=False),
    sa.Column('fy_quarter', sa.SmallInteger(), nullable=False),
    sa.Column('month_start', sa.Date(), nullable=False),
    sa.Column('iso_year', sa.Integer(), nullable=False),
    sa.Column('iso_week', sa.SmallInteger(), nullable=False),
    sa.Column('weekday', sa.SmallInteger(), nullable=False),
    sa.Column('cell_250', sa.BigInteger(), nullable=True),
    sa.Column('cell_500', sa.BigInteger(), nullable=True),
    sa.Column('cell_1000', sa.BigInteger(), nullable=True),
    sa.Column('import_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('incident_id')
    )
    op.create_index('ix_incidents_month', 'incidents', ['month_start'], unique=False)
    op.create_index('ix_incidents_source_month', 'incidents', ['source', 'month_start'], unique=False)
    op.create_table('kpi_definitions',
    sa.Column('kpi_id', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('board', sa.String(length=100), nullable=False),
    sa.Column('unit', sa.String(length=32), nullable=False),
    sa.Column('polarity', sa.String(length=24), nullable=False),
    sa.Column('frequency', sa.String(length=16), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('source', sa.String(length=120), nullable=True),
    sa.PrimaryKeyConstraint('kpi_id')
    )
    op.create_table('kpi_values',
    sa.Column('kpi_id', sa.String(length=64), nullable=False),
    sa.Column('area_code', sa.String(length=32), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_grain', sa.String(length=8), nullable=False),
    sa.Column('value', sa.Double(), nullable=True),
    sa.Column('numerator', sa.Double(), nullable=True),
    sa.Column('denominator', sa.Double(), nullable=True),
    sa.Column('target', sa.Double(), nullable=True),
    sa.Column('baseline', sa.Double(), nullable=True),
    sa.Column('is_provisional', sa.Boolean(), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('kpi_id', 'area_code', 'period_start')
    )
    op.create_index('ix_kpi_values_period', 'kpi_values', ['period_start'], unique=False)
    op.create_table('overlays',
    sa.Column('overlay_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('longitude', sa.Double(), nullable=True),
    sa.Column('latitude', sa.Double(), nullable=True),
    sa.Column('geometry_geojson', sa.Text(), nullable=True),
    sa.Column('valid_from', sa.Date(), nullable=True),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.PrimaryKeyConstraint('overlay_id')
    )
    op.create_table('source_months',
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('month_start', sa.Date(), nullable=False),
    sa.Column('is_complete', sa.Boolean(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('source', 'month_start')
    )


def downgrade() -> None:
    op.drop_table('source_months')
    op.drop_table('overlays')
    op.drop_index('ix_kpi_values_period', table_name='kpi_values')
    op.drop_table('kpi_values')
    op.drop_table('kpi_definitions')
    op.drop_index('ix_incidents_source_month', table_name='incidents')
    op.drop_index('ix_incidents_month', table_name='incidents')
    op.drop_table('incidents')
    op.drop_table('imports')
    op.drop_table('fund_years')
    op.drop_table('fund_spend')
    op.drop_table('fund_returns')
    op.drop_index('ix_fund_projects_fy', table_name='fund_projects')
    op.drop_table('fund_projects')
    op.drop_table('fund_allocations')
    op.drop_index('ix_events_dates', table_name='events')
    op.drop_table('events')
    op.drop_table('dataset_info')
    op.drop_table('categories')
    op.drop_index('ix_areas_level_parent', table_name='areas')
    op.drop_table('areas')
    op.drop_table('area_membership')
    op.drop_index('ix_agg_month_ward', table_name='agg_month_ward')
    op.drop_table('agg_month_ward')
    op.drop_index('ix_agg_month_lsoa', table_name='agg_month_lsoa')
    op.drop_table('agg_month_lsoa')
    op.drop_index('ix_agg_hour_weekday', table_name='agg_hour_weekday')
    op.drop_table('agg_hour_weekday')
    op.drop_index('ix_agg_day_ward', table_name='agg_day_ward')
    op.drop_table('agg_day_ward')
    op.drop_index('ix_agg_cell_month', table_name='agg_cell_month')
    op.drop_table('agg_cell_month')
    op.drop_table('actions')
