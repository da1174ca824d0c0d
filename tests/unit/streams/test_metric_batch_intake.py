"""The feature agent's intake: every sample of a batch reaches its window key, and every live
VM of a batch reaches the healer, placed on the batch's host when the sample names none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from novacron.streams.ingest import gather

from novacron.events import DecodedMetrics, MetricName, MetricSample

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def sample(vm: str, minute: int = 0, host: str | None = None, backfill: bool = False,
           metric: MetricName = MetricName.CPU) -> MetricSample:
    return MetricSample(occurred_at=T0 + timedelta(minutes=minute), vm_id=vm, host_id=host,
                        metric=metric, value=1.0, backfill=backfill)


def test_every_live_vm_of_a_batch_reaches_the_healer_with_a_host() -> None:
    batch = DecodedMetrics([sample(f"vm-{i}") for i in range(300)], [], host_id="host-7")
    named = DecodedMetrics([sample("vm-x", host="host-9")], [], host_id="host-7")
    intake = gather([("m1", batch), ("m2", named)])
    assert intake.live == {**{f"vm-{i}": "host-7" for i in range(300)}, "vm-x": "host-9"}


def test_backfill_builds_windows_but_is_not_liveness() -> None:
    intake = gather([("m", DecodedMetrics([sample("vm-1", backfill=True)], [], "h"))])
    assert intake.live == {} and list(intake.touched) == ["vm-1|cpu"]


def test_samples_are_grouped_per_vm_and_metric_across_messages_with_the_last_message() -> None:
    first = DecodedMetrics([sample("a", 0), sample("b", 0), sample("a", 0, metric=MetricName.MEMORY)],
                           [], "h")
    single = DecodedMetrics([sample("a", 1)], [])
    intake = gather([("batch", first), ("single", single)])
    samples, last = intake.touched["a|cpu"]
    assert [s.occurred_at for s in samples] == [T0, T0 + timedelta(minutes=1)] and last == "single"
    assert intake.touched["b|cpu"][1] == "batch" and "a|memory" in intake.touched
