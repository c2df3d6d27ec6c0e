"""relayed frames, for channels without Redis

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 21:53:25.023054
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('relayed_frame',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=200), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sender', sa.String(length=40), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_relayed_frame')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('relayed_frame', schema=None) as batch_op:
        batch_op.create_index('ix_relayed_frame_created_at', ['created_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('relayed_frame', schema=None) as batch_op:
        batch_op.drop_index('ix_relayed_frame_created_at')

    op.drop_table('relayed_frame')
