"""GraphQL (strawberry), read-only, over VMs, hosts, placement decisions and events."""

from __future__ import annotations

from typing import Any

import strawberry
from fastapi import Depends
from novacron.api.auth import viewer
from novacron.api.tokens import Principal
from novacron.store import fleet
from novacron.store.db import session_factory
from strawberry.fastapi import GraphQLRouter
from strawberry.scalars import JSON

from novacron.settings import get_settings


@strawberry.type
class VM:
    vm_id: str
    host_id: str | None
    vcpus: int
    memory_mib: int
    state: str
    labels: JSON


@strawberry.type
class PlacementDecision:
    decision_id: str
    vm_id: str
    status: str
    target_host: str | None
    score: float | None
    explanation: str
    alternatives: JSON
    decided_at: str


@strawberry.type
class Host:
    host_id: str
    vcpus: int
    memory_mib: int
    state: str
    labels: JSON

    @strawberry.field
    def vms(self) -> list[VM]:
        with session_factory(get_settings().database_url)() as s:
            return [_vm(v) for v in fleet.vms(s, limit=None, host_id=self.host_id)]


@strawberry.type
class ScalingEvent:
    decision_id: str
    vm_id: str
    action: str
    explanation: str
    mode: str
    trigger: JSON
    occurred_at: str


@strawberry.type
class HealingEvent:
    subject_id: str
    diagnosis: str
    rung: str
    succeeded: bool | None
    occurred_at: str


def _vm(v: Any) -> VM:
    return VM(vm_id=v.vm_id, host_id=v.host_id, vcpus=v.vcpus, memory_mib=v.memory_mib, state=v.state,
              labels=JSON(v.labels))


def _limit(n: int) -> int:
    return max(1, min(n, 1000))


@strawberry.type
class Query:
    @strawberry.field
    def vms(self, limit: int = 100, host_id: str | None = None, state: str | None = None) -> list[VM]:
        with session_factory(get_settings().database_url)() as s:
            return [_vm(v) for v in fleet.vms(s, _limit(limit), 0, host_id, state)]

    @strawberry.field
    def hosts(self, limit: int = 100) -> list[Host]:
        with session_factory(get_settings().database_url)() as s:
            return [Host(host_id=h.host_id, vcpus=h.vcpus, memory_mib=h.memory_mib, state=h.state,
                         labels=JSON(h.labels)) for h in fleet.hosts(s, _limit(limit))]

    @strawberry.field
    def decisions(self, vm_id: str | None = None, status: str | None = None,
                  limit: int = 100) -> list[PlacementDecision]:
        with session_factory(get_settings().database_url)() as s:
            return [PlacementDecision(decision_id=str(d.decision_id), vm_id=d.vm_id,
                                      status=d.status or "placed", target_host=d.target_host,
                                      score=d.score, explanation=d.explanation,
                                      alternatives=JSON(d.alternatives), decided_at=d.decided_at.isoformat())
                    for d in fleet.placement_decisions(s, vm_id, status, _limit(limit))]

    @strawberry.field
    def scaling_events(self, vm_id: str | None = None, limit: int = 100) -> list[ScalingEvent]:
        with session_factory(get_settings().database_url)() as s:
            return [ScalingEvent(decision_id=str(e.decision_id), vm_id=e.vm_id, action=e.action,
                                 explanation=e.explanation, mode=e.mode, trigger=JSON(e.trigger),
                                 occurred_at=e.occurred_at.isoformat())
                    for e in fleet.scaling_events(s, vm_id, None, _limit(limit))]

    @strawberry.field
    def healing_events(self, subject_id: str | None = None, limit: int = 100) -> list[HealingEvent]:
        with session_factory(get_settings().database_url)() as s:
            return [HealingEvent(subject_id=e.subject_id, diagnosis=e.diagnosis, rung=e.rung,
                                 succeeded=e.succeeded, occurred_at=e.occurred_at.isoformat())
                    for e in fleet.healing_events(s, subject_id, _limit(limit))]


schema = strawberry.Schema(query=Query)


async def _context(who: Principal = Depends(viewer)) -> dict[str, Any]:  # noqa: B008
    return {"principal": who}


# Queries only; GET is allowed so GraphiQL works. Mutations go through REST (audited there).
# Not in the OpenAPI document: GraphQL describes itself (introspection), and one opaque
# POST operation there would only mislead REST clients and their generated code.
router: GraphQLRouter[Any, None] = GraphQLRouter(schema, context_getter=_context, path="/graphql",
                                                 include_in_schema=False)
