"""each user's time zone: the IANA name pages show times in, NULL for the TIMEZONE default

Revision ID: 0013
Revises: 0012

NULL until the user picks one (the first pages propose the browser's zone), so a user who never
does follows `TIMEZONE` if the site's default changes (app/auth/time_zones.py).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user_account") as batch:
        batch.add_column(sa.Column("time_zone", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user_account") as batch:
        batch.drop_column("time_zone")
