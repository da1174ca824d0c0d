"""pending_decisions.dispatched_at: the outbox mark of an approved stream decision (when its
approved copy was published to the actuators), with a partial index over the approved rows
still to dispatch, which is what the relay polls.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("pending_decisions", sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_pending_decisions_to_dispatch", "pending_decisions", ["resolved_at"],
        postgresql_where=sa.text("status = 'approved' AND action <> 'place' AND dispatched_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_pending_decisions_to_dispatch", table_name="pending_decisions")
    op.drop_column("pending_decisions", "dispatched_at")
