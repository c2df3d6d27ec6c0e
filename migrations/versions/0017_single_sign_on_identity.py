"""single sign-on identities: the OpenID Connect issuer and subject each provisioned user is

Revision ID: 0017
Revises: 0016

A user signing in through the provider is found by (issuer, subject), never by username or
e-mail (app/auth/single_sign_on.py).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "single_sign_on_identity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("issuer", sa.String(length=255), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column("last_sign_in", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_single_sign_on_identity_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_single_sign_on_identity")),
        sa.UniqueConstraint(
            "issuer", "subject", name=op.f("uq_single_sign_on_identity_issuer_subject")
        ),
    )
    with op.batch_alter_table("single_sign_on_identity") as batch:
        batch.create_index(
            batch.f("ix_single_sign_on_identity_user_id"), ["user_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("single_sign_on_identity") as batch:
        batch.drop_index(batch.f("ix_single_sign_on_identity_user_id"))
    op.drop_table("single_sign_on_identity")
