"""business-API tokens: scopes (and links per token)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 20:20:00

Each token gets ``scopes`` (space-separated). Tokens that exist already were allowed everything, so they keep
all four scopes: the column is added with that value as its server default, which fills every existing row, and
the default is then dropped so that a new token holds exactly the scopes it was created with.

Links already carry ``api_token_id`` (revision 0002); reads and reuse are now limited to the token that created a
link, which needs no schema change.
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: Union[str, Sequence[str], None] = "0004"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

#: Every scope of the business API, as ``services/access/api_tokens.py:SCOPES`` spells them (no app import here).
ALL_SCOPES = "verifications:write verifications:read data-requests:write data-requests:read"


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("api_token") as batch:
        batch.add_column(sa.Column("scopes", sa.String(length=200), nullable=False, server_default=ALL_SCOPES))
    # A second batch: SQLite rebuilds the table here, copying the rows the first one filled.
    with op.batch_alter_table("api_token") as batch:
        batch.alter_column("scopes", existing_type=sa.String(length=200), server_default=None)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("api_token") as batch:
        batch.drop_column("scopes")
