"""The topic registry: every Kafka topic NovaCron uses, in one place.

Topics are created explicitly from here (a producer's auto-created topic would get the
broker's default partition count).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    purpose: str
    key: str


METRICS_RAW = TopicSpec(
    "novacron.metrics.raw",
    "raw metric samples, one or a batch per message",
    "host id (batches), vm_id (single samples)",
)
FEATURES = TopicSpec("novacron.features", "rolling features per VM", "vm_id")
FORECASTS = TopicSpec("novacron.forecasts", "forecasts with intervals", "vm_id")
DECISIONS = TopicSpec("novacron.decisions", "explained decisions", "target id")
ACTIONS = TopicSpec("novacron.actions", "actuator outcomes", "target id")
HEALTH = TopicSpec("novacron.health", "health events", "vm_id or host_id")
DEADLETTER = TopicSpec("novacron.deadletter", "rejected messages with the reason", "source key")
# Internal: the features of grouped VMs re-keyed by group, so one partition (one table
# shard) sees a whole group whichever partitions its members' features came on.
GROUP_FEATURES = TopicSpec("novacron.features.by-group",
                           "CPU features of VMs in a scaling group, for the group autoscaler",
                           "group id")
# The reconciler's findings (novacron.events.FleetEventMsg); fleet_events holds the same.
FLEET = TopicSpec("novacron.fleet", "fleet drift between PostgreSQL and libvirt, with reasons",
                  "vm_id, else host_id")

ALL_TOPICS: tuple[TopicSpec, ...] = (
    METRICS_RAW, FEATURES, FORECASTS, DECISIONS, ACTIONS, HEALTH, DEADLETTER,
    GROUP_FEATURES, FLEET,
)
