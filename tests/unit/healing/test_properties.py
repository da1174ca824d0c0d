"""Property tests: under any interleaving of faults, outcomes and time, the healer never plans
a second running copy of a VM, never exceeds the migration limits, and never fences a host
that is only cut off from the controller.

The fleet model is adversarial: a host that stops answering keeps its VMs running until it is
fenced, so only a fence before every start elsewhere keeps the copies at one.
"""

from __future__ import annotations

from collections import Counter

from healing_fleet import Fleet, t
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from novacron.healing.healer import HealerSettings, RecoveryOutcome
from novacron.healing.ladder import MOVES, STARTS_ELSEWHERE, Rung
from novacron.healing.safety import BreakerSettings, FenceRequest, FenceResult

HOSTS, VMS_PER_HOST = 5, 3
LIMITS = BreakerSettings(max_migrations_per_host=2, max_migrations_per_cluster=3)


class World:
    """Where copies of each VM really run, updated by fences and successful plans."""

    def __init__(self) -> None:
        self.copies: dict[str, set[str]] = {}
        self.fleet: Fleet | None = None
        self.partition_fences: list[str] = []

    def fence(self, request: FenceRequest) -> FenceResult:
        assert self.fleet is not None
        if request.scope == "host":
            if request.host_id in self.fleet.cut and request.host_id not in self.fleet.dead:
                self.partition_fences.append(request.host_id)
            for hosts in self.copies.values():
                hosts.discard(request.host_id)
        else:
            self.copies.get(request.target_id, set()).discard(request.host_id)
        return FenceResult(request, True, "world", "off")


op = st.one_of(
    st.tuples(st.just("crash"), st.integers(0, HOSTS * VMS_PER_HOST - 1)),
    st.tuples(st.just("hang"), st.integers(0, HOSTS * VMS_PER_HOST - 1)),
    st.tuples(st.just("unhang"), st.integers(0, HOSTS * VMS_PER_HOST - 1)),
    st.tuples(st.just("kill"), st.integers(0, HOSTS - 1)),
    st.tuples(st.just("revive"), st.integers(0, HOSTS - 1)),
    st.tuples(st.just("cut"), st.integers(0, HOSTS - 1)),
    st.tuples(st.just("uncut"), st.integers(0, HOSTS - 1)),
    st.tuples(st.just("advance"), st.integers(1, 40)),
    st.tuples(st.just("outcome"), st.integers(0, 3), st.booleans(), st.integers(1, 30)),
    st.tuples(st.just("outcome"), st.integers(0, 3), st.booleans(), st.integers(1, 30)),
)


def check(world: World, f: Fleet) -> None:
    for vm, hosts in world.copies.items():
        assert len(hosts) <= 1, f"{vm} runs on {hosts}"
    flying = f.healer.in_flight()
    per_vm = Counter(p.vm_id for p in flying)
    assert all(n == 1 for n in per_vm.values())
    moves = [p for p in flying if p.rung in MOVES]
    assert len(moves) <= LIMITS.max_migrations_per_cluster
    per_host = Counter(p.target_host for p in moves)
    assert all(n <= LIMITS.max_migrations_per_host for n in per_host.values())
    for p in flying:
        if p.rung in STARTS_ELSEWHERE:
            assert p.fence is not None and p.fence.fenced
    assert world.partition_fences == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=15, max_size=40), st.integers(0, 3))
def test_never_two_copies_never_over_migration_limits(ops: list[tuple], seed: int) -> None:
    world = World()
    f = Fleet(hosts=HOSTS, vms_per_host=VMS_PER_HOST, fencer=world, seed=seed,
              settings=HealerSettings(breakers=LIMITS))
    world.fleet = f
    world.copies = {vm: {f.healer.model.vms[vm].host_id} for vm in f.vms}
    f.run(2)
    for item in ops:
        kind = item[0]
        if kind in ("crash", "hang", "unhang"):
            vm = f.vms[item[1]]
            host = f.healer.model.vms[vm].host_id
            if kind == "crash" and host not in f.dead and world.copies[vm]:
                world.copies[vm].clear()
                f.crash(vm, f.now + 0.5)
            elif kind == "hang":
                f.silent.add(vm)
            else:
                f.silent.discard(vm)
        elif kind == "kill":
            f.dead.add(f.hosts[item[1]])
        elif kind == "revive":
            f.dead.discard(f.hosts[item[1]])
        elif kind == "cut":
            f.cut.add(f.hosts[item[1]])
        elif kind == "uncut":
            f.cut.discard(f.hosts[item[1]])
        elif kind == "advance":
            f.run(f.now + item[1])
        else:
            flying = f.healer.in_flight()
            if flying:
                plan = flying[item[1] % len(flying)]
                at = min(plan.deadline, t(f.now + item[3]))
                if item[2]:
                    target = plan.target_host or plan.source_host
                    if plan.rung == Rung.LIVE_MIGRATE:  # the running copy moves
                        world.copies[plan.vm_id] = {target}
                    elif plan.rung in STARTS_ELSEWHERE:  # a new copy; only a fence kills the old
                        world.copies[plan.vm_id].add(target)
                    else:
                        world.copies[plan.vm_id] = {target}
                f.healer.report(RecoveryOutcome(plan.plan_id, item[2], at))
        check(world, f)
