"""staff sign-in hardening: second-factor failures, forced password change, sign-in throttle

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 20:20:00

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: Union[str, Sequence[str], None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("staff_user") as batch:
        # Server defaults fill the rows that exist: no forced change for accounts made before this revision.
        batch.add_column(sa.Column("totp_failures", sa.Integer(), nullable=False, server_default=sa.text("0")))
        batch.add_column(sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "signin_throttle",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("account_hash", sa.String(length=64), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("signin_throttle") as batch:
        batch.create_index("ix_signin_throttle_account_hash", ["account_hash"], unique=False)
        batch.create_index("ix_signin_throttle_last_failure_at", ["last_failure_at"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("signin_throttle") as batch:
        batch.drop_index("ix_signin_throttle_last_failure_at")
        batch.drop_index("ix_signin_throttle_account_hash")
    op.drop_table("signin_throttle")
    with op.batch_alter_table("staff_user") as batch:
        batch.drop_column("must_change_password")
        batch.drop_column("totp_failures")
