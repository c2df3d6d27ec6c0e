"""saved views: named list states, for oneself or a group, and each user's default

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 00:15:44.363484
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('saved_view',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('model', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('query', sa.String(length=2000), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['auth_group.id'], name=op.f('fk_saved_view_group_id_auth_group'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['owner_id'], ['user_account.id'], name=op.f('fk_saved_view_owner_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_saved_view')),
    sa.UniqueConstraint('owner_id', 'model', 'name', name=op.f('uq_saved_view_owner_id_model_name'))
    )
    with op.batch_alter_table('saved_view', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_saved_view_group_id'), ['group_id'], unique=False)

    op.create_table('saved_view_default',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('model', sa.String(length=64), nullable=False),
    sa.Column('view_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_saved_view_default_user_id_user_account'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['view_id'], ['saved_view.id'], name=op.f('fk_saved_view_default_view_id_saved_view'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'model', name=op.f('pk_saved_view_default'))
    )
    with op.batch_alter_table('saved_view_default', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_saved_view_default_view_id'), ['view_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('saved_view_default', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_saved_view_default_view_id'))

    op.drop_table('saved_view_default')
    with op.batch_alter_table('saved_view', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_saved_view_group_id'))

    op.drop_table('saved_view')
