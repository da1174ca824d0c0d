"""Healer end-to-end on the scripted fleet: first rung per class, host-level problems."""

from __future__ import annotations

from healing_fleet import Fleet, plans, t
from novacron.healing import ResourceUsage, StorageFault
from novacron.healing.diagnosis import FailureClass
from novacron.healing.healer import HealerSettings, RecoveryOutcome
from novacron.healing.health import VmRegistered
from novacron.healing.ladder import Rung


def test_guest_service_down_restarts_the_service_first() -> None:
    f = Fleet(settings=HealerSettings(learn=False))
    f.services_down["vm-h2-1"] = frozenset({"postgres"})
    [p] = plans(f.run(2))
    assert p.rung == Rung.RESTART_SERVICE and p.params["services"] == ["postgres"]
    assert p.budget_s == 30


def test_hung_vm_is_reset_in_place() -> None:
    f = Fleet()
    f.run(2)
    f.silent.add("vm-h1-1")
    [p] = plans(f.run(15))
    assert p.diagnosis.failure == FailureClass.VM_HUNG and p.rung == Rung.RESTART_VM
    assert p.issued_at <= t(2 + 10 + 1)


def test_vm_storage_error_moves_the_vm_live() -> None:
    f = Fleet(settings=HealerSettings(learn=False))
    f.run(2)
    [p] = plans(f.send(StorageFault("vm", "vm-h1-0", t(2.5), "EIO on vda")))
    assert p.rung == Rung.LIVE_MIGRATE and p.target_host != "h1" and p.fence is None


def test_host_storage_error_moves_every_vm_off_the_host() -> None:
    f = Fleet(settings=HealerSettings(learn=False))
    f.run(2)
    ps = plans(f.send(StorageFault("host", "h3", t(2.5), "multipath down")))
    assert sorted(p.vm_id for p in ps) == ["vm-h3-0", "vm-h3-1"]
    assert all(p.rung == Rung.LIVE_MIGRATE and p.target_host != "h3" for p in ps)


def test_a_scale_out_leaves_the_vm_on_its_own_host() -> None:
    # h0 is full (3 slots, 3 VMs), so the VM scales out to a replica on another host.
    f = Fleet(scalable=True, capacity=3, settings=HealerSettings(learn=False),
              extra_vms=[VmRegistered("extra-h0", "h0", t(0))])
    f.run(2)
    [p] = plans(f.send(ResourceUsage("vm", "vm-h0-0", "memory", 0.99, t(2.5))))
    assert p.rung == Rung.SCALE and p.params["direction"] == "out" and p.target_host != "h0"
    f.run(10)
    f.healer.report(RecoveryOutcome(p.plan_id, True, t(10.2)))
    # Recorded on the replica's host, a later loss of that host would move the VM there too,
    # while it still runs on h0: two running copies.
    assert f.healer.model.vms["vm-h0-0"].host_id == "h0"


def test_vm_exhaustion_scales_and_host_exhaustion_moves_one_vm() -> None:
    f = Fleet(scalable=True, settings=HealerSettings(learn=False))
    f.run(2)
    [p] = plans(f.send(ResourceUsage("vm", "vm-h0-0", "memory", 0.99, t(2.5))))
    assert p.rung == Rung.SCALE and p.params["direction"] == "up"
    f.run(10)
    f.healer.report(RecoveryOutcome(p.plan_id, True, t(10.2)))
    [q] = plans(f.send(ResourceUsage("host", "h2", "cpu", 0.98, t(10.5))))
    assert q.rung == Rung.LIVE_MIGRATE and q.source_host == "h2"
