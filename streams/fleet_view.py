"""The fleet as the decision agents see it: VMs with their labels and groups (from libvirt) and
the stored policies (from PostgreSQL), each re-read when older than a few seconds of wall
time. Shared by the group agents and the vertical decision agent, which must agree on who is
in a group. No Faust here: agents import it."""

from __future__ import annotations

import asyncio
import logging
import math
import time

from novacron.actuators.clone import group_inventory
from novacron.autoscaler.live_group import FleetView, label_problem
from novacron.policy import LoadedPolicy, Policy, PolicySet
from novacron.store import fleet as fleet_store
from novacron.streams import runtime
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)

# Wall time: how stale the fleet may be when routing a feature (a VM's group rarely changes)
# and when placing. A VM the inventory does not know (a new clone) makes the whole inventory
# be read again, at most every UNKNOWN_REREAD_S: one listing per host bounds the cost however
# many unknown VMs report (looking each up alone cost a libvirt call per host per VM, which
# halved the stream's throughput with 1,000 VMs that no test host defines).
ROUTING_MAX_AGE_S = 15.0
UNKNOWN_REREAD_S = 2.0
PLACING_MAX_AGE_S = 2.0
POLICIES_MAX_AGE_S = 30.0


class _Cached:
    """The fleet's labels and the stored policies, re-read when older than their max age."""

    def __init__(self) -> None:
        self.view = FleetView((), ())
        self.view_at = -math.inf
        self.policies: PolicySet | None = None
        self.policies_at = -math.inf
        self._warned: set[str] = set()
    async def fleet(self, max_age_s: float) -> FleetView:
        if time.monotonic() - self.view_at > max_age_s:
            self.view = await asyncio.to_thread(group_inventory, runtime.current().fleet)
            self.view_at = time.monotonic()
            for vm in self.view.vms:
                problem = label_problem(vm)
                if problem and vm.vm_id not in self._warned:
                    self._warned.add(vm.vm_id)
                    log.warning("group label ignored: %s", problem)
        return self.view

    async def group_of(self, vm_id: str) -> str | None:
        """The VM's group: from the cached inventory, read again when older than
        ROUTING_MAX_AGE_S, or UNKNOWN_REREAD_S if it does not know the VM."""
        view = await self.fleet(ROUTING_MAX_AGE_S)
        if not view.knows(vm_id):
            view = await self.fleet(UNKNOWN_REREAD_S)
        return view.group_of(vm_id)

    def warn_once(self, group: str, problems: tuple[str, ...]) -> None:
        for problem in problems:
            if (key := f"{group}: {problem}") not in self._warned:
                self._warned.add(key)
                log.warning("group %s", key)

    async def policy_set(self) -> PolicySet | None:
        if time.monotonic() - self.policies_at > POLICIES_MAX_AGE_S:
            try:
                self.policies = await asyncio.to_thread(_stored_policies)
            except SQLAlchemyError as exc:  # keep the last set; labels and defaults still apply
                log.warning("stored policies unreadable (%s); using the last ones read", exc)
            self.policies_at = time.monotonic()
        return self.policies


def _stored_policies() -> PolicySet:
    out = []
    with runtime.current().sessions() as s:
        for row in fleet_store.policies(s):
            try:
                out.append(LoadedPolicy(Policy.model_validate(row.spec),
                                        row.source or f"store:{row.name}", 1))
            except ValidationError:
                continue  # written by an older schema; `policy validate` reports it
    return PolicySet(out)


cache = _Cached()
