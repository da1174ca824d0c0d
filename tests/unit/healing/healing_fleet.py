"""A tiny scripted fleet around a Healer for the healing tests (event time, no clock)."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from novacron.healing.healer import Healer, HealerSettings, HealingAction, Hold, HoldKind
from novacron.healing.health import (
    CONTROLLER,
    GuestHeartbeat,
    HostHeartbeat,
    HostRegistered,
    Lifecycle,
    LifecycleEvent,
    Observation,
    VmRegistered,
)
from novacron.healing.ladder import RecoveryPlan
from novacron.healing.safety import Fencer, TestFencer

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def t(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class Fleet:
    """Hosts h0..hN-1 (zones round-robin), VMs ``vm-<host>-<i>`` with guest agents."""

    def __init__(
        self,
        hosts: int = 4,
        vms_per_host: int = 2,
        *,
        zones: tuple[str, ...] = ("zone-a",),
        capacity: int = 16,
        agent: bool = True,
        fencer: Fencer | None = None,
        settings: HealerSettings | None = None,
        seed: int = 0,
        priorities: dict[str, int] | None = None,
        standby: dict[str, str] | None = None,
        scalable: bool = False,
        extra_vms: Iterable[VmRegistered] = (),
    ) -> None:
        self.fencer = fencer if fencer is not None else TestFencer()
        self.healer = Healer(fencer=self.fencer, rng=random.Random(seed), settings=settings)
        self.hosts = [f"h{i}" for i in range(hosts)]
        self.dead: set[str] = set()
        self.cut: set[str] = set()  # controller cannot see them, peers can
        self.silent: set[str] = set()  # VMs whose guest agent stopped answering
        self.services_down: dict[str, frozenset[str]] = {}
        self.now = 0.0
        batch: list[Observation] = []
        for i, h in enumerate(self.hosts):
            batch.append(HostRegistered(h, t(0), zone=zones[i % len(zones)], capacity=capacity))
        self.vms: list[str] = []
        for h in self.hosts:
            for j in range(vms_per_host):
                vm = f"vm-{h}-{j}"
                self.vms.append(vm)
                batch.append(VmRegistered(
                    vm, h, t(0), has_guest_agent=agent,
                    priority=(priorities or {}).get(vm, 0),
                    standby_id=(standby or {}).get(vm), scalable=scalable,
                ))
        for extra in extra_vms:
            self.vms.append(extra.vm_id)
            batch.append(extra)
        self.actions: list[HealingAction] = list(self.healer.observe_all(batch))
        self.actions += self.beat(0.0)

    # --- inputs
    def beat(self, at: float) -> list[HealingAction]:
        """One collection round at ``at``: host heartbeats (controller and peers) and guest
        heartbeats for VMs that are running on a live host."""
        self.now = at
        batch: list[Observation] = []
        for h in self.hosts:
            if h in self.dead:
                continue
            if h not in self.cut:
                batch.append(HostHeartbeat(h, CONTROLLER, t(at)))
            for peer in self.hosts:
                if peer != h and peer not in self.dead:
                    batch.append(HostHeartbeat(h, peer, t(at)))
        model = self.healer.model
        for vm_id, vm in model.vms.items():
            if vm.host_id in self.dead or vm_id in self.silent:
                continue
            batch.append(GuestHeartbeat(vm_id, t(at), self.services_down.get(vm_id, frozenset())))
        out = self.healer.observe_all(batch)
        self.actions += out
        return out

    def run(self, until: float, step: float = 1.0) -> list[HealingAction]:
        out: list[HealingAction] = []
        at = self.now
        while at + step <= until + 1e-9:
            at += step
            out += self.beat(at)
        return out

    def send(self, obs: Observation) -> list[HealingAction]:
        out = self.healer.observe(obs)
        self.actions += out
        return out

    def crash(self, vm_id: str, at: float) -> list[HealingAction]:
        host = self.healer.model.vms[vm_id].host_id
        return self.send(LifecycleEvent(vm_id, host, Lifecycle.CRASHED, t(at)))

    def operator_shutdown(self, vm_id: str, at: float) -> list[HealingAction]:
        host = self.healer.model.vms[vm_id].host_id
        return self.send(LifecycleEvent(vm_id, host, Lifecycle.OPERATOR_SHUTDOWN, t(at)))


def plans(actions: Iterable[HealingAction]) -> list[RecoveryPlan]:
    return [a for a in actions if isinstance(a, RecoveryPlan)]


def holds(actions: Iterable[HealingAction], kind: HoldKind | None = None) -> list[Hold]:
    return [a for a in actions if isinstance(a, Hold) and (kind is None or a.kind == kind)]
