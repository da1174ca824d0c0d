"""The real fleet: a host's inventory facts, a VM's full spec and its operator's intent, the
outcome of a placement on libvirt, an outbox of decisions for the actuators, and fleet drift.

- hosts.facts: what the inventory (or libvirt) says of a host beyond vCPUs and memory:
  price_per_hour, overcommit ratios, NUMA cells, net/disk/IOPS capacity, libvirt's host UUID.
- vms.spec: every dimension the placement engine decided on (net, storage, IOPS, NUMA, GPUs,
  disks and NICs as given), so the actuator can define the domain and the engine can count it.
- vms.desired_state: the operator's intent (running | stopped); vms.state is what libvirt
  reports, kept so by the reconciler. A difference is drift, never silently overwritten.
- vms.numa_cells: the cells the placement chose (the domain's <numatune>).
- placement_decisions.outcome: what the actuator reported after defining and starting the VM
  ({status, detail, host_id, at, duration_ms}).
- decision_outbox: decisions written in the same transaction as their cause (a placement, an
  operator's start/stop) and relayed to novacron.decisions by the worker.
- fleet_events: drift and inventory events (discovered, vanished, moved, state drift,
  host unreachable), each with a reason.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

JSONB = postgresql.JSONB(astext_type=sa.Text())


def upgrade() -> None:
    op.add_column("hosts", sa.Column("facts", JSONB, server_default="{}", nullable=False))
    op.add_column("vms", sa.Column("spec", JSONB, server_default="{}", nullable=False))
    op.add_column("vms", sa.Column("desired_state", sa.String(40), nullable=True))
    op.add_column("vms", sa.Column("numa_cells", JSONB, server_default="[]", nullable=False))
    op.add_column("placement_decisions", sa.Column("outcome", JSONB, nullable=True))
    op.create_table(
        "decision_outbox",
        sa.Column("decision_id", sa.Uuid(), primary_key=True),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("target_id", sa.String(200), nullable=False),
        sa.Column("decision", JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_decision_outbox_undispatched", "decision_outbox", ["created_at"],
                    postgresql_where=sa.text("dispatched_at IS NULL"))
    op.create_table(
        "fleet_events",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("host_id", sa.String(200), nullable=True),
        sa.Column("vm_id", sa.String(200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("detail", JSONB, server_default="{}", nullable=False),
    )
    op.create_index("ix_fleet_events_occurred_at", "fleet_events", ["occurred_at"])
    op.create_index("ix_fleet_events_vm_id", "fleet_events", ["vm_id"])


def downgrade() -> None:
    op.drop_table("fleet_events")
    op.drop_table("decision_outbox")
    op.drop_column("placement_decisions", "outcome")
    op.drop_column("vms", "numa_cells")
    op.drop_column("vms", "desired_state")
    op.drop_column("vms", "spec")
    op.drop_column("hosts", "facts")
