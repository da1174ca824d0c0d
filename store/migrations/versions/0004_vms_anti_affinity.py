"""vms.anti_affinity: the hard anti-affinity terms a VM was placed with (label selector and
topology key), which bind every VM placed after it too. Stored on the VM so a fleet state
rebuilt from PostgreSQL still enforces them.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("vms", sa.Column("anti_affinity", postgresql.JSONB(astext_type=sa.Text()),
                                   server_default="[]", nullable=False))


def downgrade() -> None:
    op.drop_column("vms", "anti_affinity")
