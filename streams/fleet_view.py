"""The fleet as the decision agents see it: VMs with their labels and groups (from libvirt),
the stored policies and the VMs' tags (from PostgreSQL), each re-read when older than a few
seconds of wall time. Shared by the group agents and the vertical decision agent, which must agree on who is
in a group. No Faust here: agents import it."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Iterable

from novacron.actuators.clone import group_inventory
from novacron.autoscaler.live_group import FleetView, label_problem
from novacron.policy import LoadedPolicy, Policy, PolicySet
from novacron.store import fleet as fleet_store
from novacron.streams import db_retry, runtime
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)

# Wall time: how stale the fleet may be when routing a feature (a VM's group rarely changes)
# and when placing. VMs the inventory does not know (a new clone) make the whole inventory be
# read again once for all of them, after they were seen, so a VM defined before its metrics is
# always found; one still unknown then is not asked about again for ABSENT_S. One listing per
# host bounds the cost however many unknown VMs report (looking each up alone, from a router
# agent of its own, halved the stream's throughput with 1,000 VMs that no test host defines).
ROUTING_MAX_AGE_S = 15.0
ABSENT_S = 30.0
PLACING_MAX_AGE_S = 2.0
POLICIES_MAX_AGE_S = 30.0


class _Cached:
    """The fleet's labels and the stored policies, re-read when older than their max age."""

    def __init__(self) -> None:
        self.view = FleetView((), ())
        self.view_at = -math.inf
        self.policies: PolicySet | None = None
        self.policies_at = -math.inf
        self.tags: dict[str, frozenset[str]] = {}
        self._warned: set[str] = set()
        self._absent: dict[str, float] = {}

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

    async def knowing(self, vm_ids: Iterable[str]) -> FleetView:
        """The fleet, read again (once for all of them) if one of ``vm_ids`` is unknown and
        was not already looked for within ABSENT_S: a VM just created is found."""
        view = await self.fleet(ROUTING_MAX_AGE_S)
        now = time.monotonic()
        unknown = [v for v in vm_ids
                   if not view.knows(v) and now - self._absent.get(v, -math.inf) >= ABSENT_S]
        if unknown:
            view = await self.fleet(0.0)  # started after every one of them was seen
            later = time.monotonic()
            if len(self._absent) > 100_000:  # forget the long-absent
                self._absent = {v: t for v, t in self._absent.items() if later - t < ABSENT_S}
            for v in unknown:
                if not view.knows(v):
                    self._absent[v] = later
        return view

    async def groups_of(self, vm_ids: Iterable[str]) -> dict[str, str]:
        """vm id -> group of the grouped VMs among ``vm_ids`` (a take's worth at once)."""
        ids = list(vm_ids)
        view = await self.knowing(ids)
        return {v: g for v in ids if (g := view.group_of(v)) is not None}

    def warn_once(self, group: str, problems: tuple[str, ...]) -> None:
        for problem in problems:
            if (key := f"{group}: {problem}") not in self._warned:
                self._warned.add(key)
                log.warning("group %s", key)

    async def policy_set(self) -> PolicySet | None:
        if time.monotonic() - self.policies_at > POLICIES_MAX_AGE_S:
            read: tuple[PolicySet, dict[str, frozenset[str]]] | None
            try:
                if self.policies is None:
                    # Never read: wait for PostgreSQL rather than decide as if no policy
                    # existed (a stored policy may say "approve" or "observe").
                    read = await db_retry.call("reading policies", _stored_policies)
                else:  # an outage keeps the last set read (logged once by db_retry)
                    read = await db_retry.attempt("reading policies", _stored_policies)
                if read is not None:
                    self.policies, self.tags = read
            except SQLAlchemyError as exc:  # not an outage: keep the last set; labels and defaults apply
                log.warning("stored policies unreadable (%s); using the last ones read", exc)
            self.policies_at = time.monotonic()
        return self.policies

    def tags_of(self, vm_id: str) -> frozenset[str]:
        """The VM's tags as of the last :meth:`policy_set` read (tags are set in PostgreSQL,
        through the API; libvirt knows only labels). Call ``policy_set`` first."""
        return self.tags.get(vm_id, frozenset())


def _stored_policies() -> tuple[PolicySet, dict[str, frozenset[str]]]:
    """The stored policies, and the VMs' tags their ``matchTags`` select, in one session."""
    out = []
    with runtime.current().sessions() as s:
        tags = fleet_store.vm_tags(s)
        for row in fleet_store.policies(s):
            try:
                out.append(LoadedPolicy(Policy.model_validate(row.spec),
                                        row.source or f"store:{row.name}", 1))
            except ValidationError:
                continue  # written by an older schema; `policy validate` reports it
    return PolicySet(out), tags


cache = _Cached()
