"""each user's colour theme: auto (the system's), light or dark

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 03:30:00.000000

Chosen on the user's preferences page (`/admin/account/preferences`); every admin page is
drawn in it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('theme', sa.String(length=5), server_default='auto', nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('theme')
