"""The heal loop skips validating metric samples that cannot change the healer, and still
sees everything that can (no libvirt needed: a healer over a registered inventory)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

from novacron.healing import Healer, TestFencer
from novacron.streams.heal_core import HealLoop

from novacron.events import MetricName, MetricSample

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


def loop() -> HealLoop:
    hl = HealLoop(Healer(fencer=TestFencer(), rng=random.Random(1)), now=lambda: NOW)
    hl.register([("host-1", {"zone": "zone-a"}, 8, [("vm-1", True, 1), ("vm-2", True, 1)])], NOW)
    return hl


def metric(vm: str, backfill: bool = False, host: str | None = "host-1") -> bytes:
    return MetricSample(occurred_at=NOW, vm_id=vm, host_id=host, metric=MetricName.CPU,
                        value=10.0, backfill=backfill).to_bytes()


def test_backfill_never_makes_a_vm_watched() -> None:
    hl = loop()
    hl.ingest([metric("vm-1", backfill=True)] * 3)
    assert "vm-1" not in hl.healer.model.vms or hl.healer.model.vms["vm-1"].last_metric is None


def test_live_samples_mark_liveness_once_per_vm_and_batch() -> None:
    hl = loop()
    hl.ingest([metric("vm-1"), metric("vm-1"), b"not json", metric("vm-2"), b"[1]",
               json.dumps({"metric": "cpu", "vm_id": ["unhashable"]}).encode()])
    assert hl.healer.model.vms["vm-1"].last_metric == NOW
    assert hl.healer.model.vms["vm-2"].last_metric == NOW


def test_a_sample_without_host_does_not_hide_a_later_one_with_it() -> None:
    hl = loop()
    hl.register([("host-1", {}, 8, [])], NOW)
    hl.ingest([metric("vm-9", host=None), metric("vm-9")])
    assert hl.healer.model.vms["vm-9"].last_metric == NOW


def test_arrivals_handed_over_by_the_feature_agent_count_as_liveness() -> None:
    from novacron.streams import liveness

    hl = loop()
    liveness.note(NOW, [("vm-1", "host-1"), ("vm-2", None)])
    liveness.note(NOW, [])
    [(at, vms)] = liveness.drain()
    hl.seen(vms, at)
    assert liveness.drain() == []
    assert hl.healer.model.vms["vm-1"].last_metric == NOW
    assert hl.healer.model.vms["vm-2"].last_metric == NOW  # its host is known from the inventory
