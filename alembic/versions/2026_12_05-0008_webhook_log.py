"""webhook delivery log: every attempt, rejected ones without their body

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 21:20:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "webhook_delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=24), nullable=False),
        sa.Column("source_ip", sa.String(length=64), nullable=True),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=80), nullable=True),
        sa.Column("webhook_type", sa.String(length=64), nullable=True),
        sa.Column("session_id", sa.String(length=64), nullable=True),
        sa.Column("signature_kind", sa.String(length=8), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_whd_received_id", "webhook_delivery", ["received_at", "id"])
    op.create_index("ix_whd_outcome_received", "webhook_delivery", ["outcome", "received_at"])
    op.create_index("ix_webhook_delivery_dedupe_key", "webhook_delivery", ["dedupe_key"])
    op.create_index("ix_webhook_delivery_webhook_type", "webhook_delivery", ["webhook_type"])
    op.create_index("ix_webhook_delivery_session_id", "webhook_delivery", ["session_id"])
    # The inbox's existing rows become the log's accepted deliveries (their size and latency were not measured).
    op.execute(
        "INSERT INTO webhook_delivery (received_at, outcome, size_bytes, duration_ms, dedupe_key, webhook_type,"
        " session_id, signature_kind) SELECT received_at, 'accepted', 0, 0, dedupe_key, webhook_type, session_id,"
        " signature_kind FROM inbox_event"
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_webhook_delivery_session_id", table_name="webhook_delivery")
    op.drop_index("ix_webhook_delivery_webhook_type", table_name="webhook_delivery")
    op.drop_index("ix_webhook_delivery_dedupe_key", table_name="webhook_delivery")
    op.drop_index("ix_whd_outcome_received", table_name="webhook_delivery")
    op.drop_index("ix_whd_received_id", table_name="webhook_delivery")
    op.drop_table("webhook_delivery")
