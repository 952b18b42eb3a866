"""secrets at rest: ciphertext bound to its row, keyed audit chain

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 20:20:00

Schema only: no data is rewritten here. A migration cannot read ``PORTAL_SECRET_KEY`` (this environment is given
none), so the existing audit rows keep their plain SHA-256 hashes, marked by ``chain_version`` NULL, and
verification accepts them as the chain's first part; values encrypted before row binding stay readable as they
are. ``python -m didit_portal keys rotate`` rewrites both under the key when the operator chooses.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    # NULL: the row was chained with plain SHA-256 before this revision; the portal writes 2 (HMAC-SHA256).
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("chain_version", sa.Integer(), nullable=True))
    # The hash of a link's token before the last key rotation, so URLs handed out earlier keep opening.
    for table in ("verification_link", "share_link"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("prior_token_hash", sa.String(length=64), nullable=True))
            batch.create_index(batch.f(f"ix_{table}_prior_token_hash"), ["prior_token_hash"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    for table in ("share_link", "verification_link"):
        with op.batch_alter_table(table) as batch:
            batch.drop_index(batch.f(f"ix_{table}_prior_token_hash"))
            batch.drop_column("prior_token_hash")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("chain_version")
