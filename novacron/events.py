"""Event contracts: versioned pydantic models, JSON on the wire.

Every event carries ``schema_version``, ``event_id`` (UUID), ``occurred_at`` (event time,
UTC) and a ``key`` that decides the Kafka partition (a VM or host id). Everything downstream
of a metric reasons with ``occurred_at``, never with the wall clock, so traces replay fast.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

SCHEMA_VERSION = 1

Identifier = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:\-]+$")]
# Free-text fields a producer fills (a sample's source) are bounded: a multi-KB label is a bug
# upstream, and it would otherwise travel into every window, feature and dead letter.
MAX_TEXT_CHARS = 4096
Text = Annotated[str, Field(max_length=MAX_TEXT_CHARS)]
# A message of novacron.metrics.raw larger than this is refused whole: Kafka's producers and
# brokers refuse larger ones by default too (max.request.size, message.max.bytes), so only a
# misbehaving producer sends one. It holds ~4,000 samples of ~250 bytes.
MAX_METRICS_MESSAGE_BYTES = 1024 * 1024


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamps must carry a timezone (use UTC, e.g. 2026-01-01T00:00:00Z)")
    return value.astimezone(UTC)


class Event(BaseModel):
    """Base of every event on a NovaCron topic."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: ClassVar[str] = "event"

    schema_version: int = SCHEMA_VERSION
    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    occurred_at: datetime

    @field_validator("occurred_at")
    @classmethod
    def _tz(cls, value: datetime) -> datetime:
        return _aware(value)

    @field_validator("schema_version")
    @classmethod
    def _version(cls, value: int) -> int:
        if value != SCHEMA_VERSION:
            raise ValueError(f"unsupported schema_version {value}; this build reads {SCHEMA_VERSION}")
        return value

    @property
    def key(self) -> str:  # pragma: no cover - every concrete event overrides it
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


class MetricName(StrEnum):
    CPU = "cpu"  # utilisation of the allocated vCPUs, 0..100 %
    MEMORY = "memory"  # utilisation of the allocated memory, 0..100 %
    NET_IN = "net_in"
    NET_OUT = "net_out"
    DISK_IO = "disk_io"
    REQUESTS = "requests"


class MetricSample(Event):
    kind: ClassVar[str] = "metric"
    vm_id: Identifier
    host_id: Identifier | None = None
    metric: MetricName
    value: float = Field(allow_inf_nan=False)
    # The allocation the value is relative to (vCPUs for cpu, MiB for memory), when known.
    allocated: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    source: Text = "collector"
    # Historical samples (a backfill or a replay's warm-up) build state but trigger no action.
    backfill: bool = False

    @property
    def key(self) -> str:
        return self.vm_id


class FeatureVector(Event):
    """Rolling statistics over an event-time window ending at ``occurred_at``."""

    kind: ClassVar[str] = "features"
    vm_id: Identifier
    metric: MetricName
    window_s: float = Field(gt=0)
    count: int = Field(ge=1)
    last: float
    mean: float
    std: float = Field(ge=0)
    p95: float
    ewma: float
    # Robust z-score of `last` against the window (models.features.anomaly_score); None from
    # producers that predate it.
    anomaly: float | None = None
    # Seasonal decomposition (models.features.stl_decompose, daily period) of the window's
    # hourly means, at its newest complete hour; None until two days of hours are kept.
    stl_trend: float | None = None
    stl_seasonal: float | None = None
    stl_resid: float | None = None
    # Pearson correlation of this metric with each of the VM's other metrics over their
    # shared recent points (models.features.correlation); None when it has no other metric.
    correlations: dict[MetricName, float] | None = None
    # Recent raw values (oldest first) so a forecaster sees the same history the features did.
    history: list[float] = Field(default_factory=list, max_length=10_000)
    step_s: float = Field(default=60.0, gt=0)
    allocated: float | None = None
    host_id: Identifier | None = None
    backfill: bool = False

    @property
    def key(self) -> str:
        return self.vm_id


class Forecast(Event):
    kind: ClassVar[str] = "forecast"
    vm_id: Identifier
    metric: MetricName
    horizon_s: float = Field(gt=0)
    step_s: float = Field(gt=0)
    point: list[float]
    lower: list[float]
    upper: list[float]
    level: float = Field(default=0.8, gt=0, lt=1)
    model: str
    model_version: str = "unknown"

    @property
    def key(self) -> str:
        return self.vm_id


class ActionKind(StrEnum):
    SCALE_VCPU = "scale_vcpu"
    SCALE_MEMORY = "scale_memory"
    SCALE_OUT = "scale_out"
    SCALE_IN = "scale_in"
    PLACE = "place"
    START = "start"
    RESTART = "restart"
    MIGRATE = "migrate"
    NOOP = "noop"
    # Plain lifecycle operations (an operator's, through the API, or a fencer's).
    SHUTDOWN = "shutdown"
    DESTROY = "destroy"
    REBOOT = "reboot"
    RESET = "reset"


class AutonomyMode(StrEnum):
    OBSERVE = "observe"  # log only
    RECOMMEND = "recommend"  # publish, do not act
    APPROVE = "approve"  # wait for an operator
    AUTO = "auto"


class Alternative(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    option: str
    score: float | None = None
    why_not: str


class Decision(Event):
    """An explained, idempotent decision. Actuators act at most once per ``decision_id``."""

    kind: ClassVar[str] = "decision"
    decision_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    action: ActionKind
    target_kind: Literal["vm", "host", "group"] = "vm"
    target_id: Identifier
    host_id: Identifier | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    trigger: dict[str, Any] = Field(default_factory=dict)
    policy: str = "default"
    score: float | None = None
    explanation: str = Field(min_length=1)
    alternatives: list[Alternative] = Field(default_factory=list)
    mode: AutonomyMode = AutonomyMode.AUTO
    decided_by: str

    @property
    def key(self) -> str:
        return self.target_id


class ActionStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"  # not acted on (duplicate, observe/recommend mode, no-op)


class ActionResult(Event):
    kind: ClassVar[str] = "action"
    decision_id: uuid.UUID
    action: ActionKind
    target_id: Identifier
    host_id: Identifier | None = None
    status: ActionStatus
    detail: str
    before: dict[str, Any] = Field(default_factory=dict)
    after: dict[str, Any] = Field(default_factory=dict)
    duration_ms: float = Field(ge=0)

    @property
    def key(self) -> str:
        return self.target_id


class HealthState(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    FAILED = "failed"
    UNKNOWN = "unknown"


class HealthEvent(Event):
    kind: ClassVar[str] = "health"
    subject_kind: Literal["vm", "host"]
    subject_id: Identifier
    state: HealthState
    reason: str
    evidence: dict[str, Any] = Field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.subject_id


class PlacementRequest(Event):
    """A request to place one VM (or N replicas all-or-nothing) on the fleet."""

    kind: ClassVar[str] = "placement_request"
    vm_id: Identifier
    vcpus: int = Field(ge=1, le=1024)
    memory_mib: int = Field(ge=64, le=16 * 1024 * 1024)
    disk_gib: float = Field(default=0, ge=0, le=1_000_000)
    net_mbps: float = Field(default=0, ge=0, le=400_000)
    labels: dict[str, str] = Field(default_factory=dict)
    constraints: list[dict[str, Any]] = Field(default_factory=list)
    preferences: dict[str, float] = Field(default_factory=dict)
    strategy: str = "balanced"
    replicas: int = Field(default=1, ge=1, le=1000)

    @property
    def key(self) -> str:
        return self.vm_id


class DeadLetter(Event):
    kind: ClassVar[str] = "deadletter"
    source_topic: str
    source_key: str | None = None
    reason: str
    payload: str  # the original bytes, decoded leniently, so nothing is lost
    worker: str

    @property
    def key(self) -> str:
        return self.source_key or self.source_topic


E = TypeVar("E", bound=Event)


class InvalidEvent(ValueError):
    """The message could not be read as the expected event; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def decode(model: type[E], raw: bytes | str | None) -> E:
    """Parse one message or raise :class:`InvalidEvent` with a reason fit for the dead letter."""
    if raw is None:
        raise InvalidEvent("empty message (no value)")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        parts = []
        for err in exc.errors()[:5]:
            loc = ".".join(str(p) for p in err["loc"]) or "<message>"
            parts.append(f"{loc}: {err['msg']}")
        raise InvalidEvent(f"invalid {model.kind}: " + "; ".join(parts)) from None


def utcnow() -> datetime:
    """Wall-clock time; only for stamping effects (actions), never for reasoning on metrics."""
    return datetime.now(UTC)


# --- Metric batches: many samples in one message (issue #5) ---------------------------------
# Faust spends a fixed few hundred microseconds of CPU on every Kafka message, so one sample
# per message caps the feature agents far below 20,000 samples/s. Collectors scrape a whole
# host at once anyway; a batch carries that scrape. Single samples stay valid on the same
# topic: a message with a ``samples`` field is a batch, anything else a single sample.

MAX_BATCH_SAMPLES = 5_000


class MetricBatch(Event):
    """Samples scraped together (typically every VM of one host); each keeps its event time."""

    kind: ClassVar[str] = "metric_batch"
    host_id: Identifier | None = None
    source: Text = "collector"
    samples: list[MetricSample] = Field(min_length=1, max_length=MAX_BATCH_SAMPLES)

    @property
    def key(self) -> str:
        return self.host_id or self.samples[0].vm_id


@dataclass(frozen=True)
class BadSample:
    """One sample of a valid batch that did not validate: dead-lettered alone."""

    index: int
    reason: str
    payload: str  # the sample as it came, re-serialised as JSON


@dataclass(frozen=True)
class DecodedMetrics:
    samples: list[MetricSample]
    bad: list[BadSample]
    host_id: str | None = None  # the batch's host, for samples that do not name theirs


def _reason(kind: str, exc: ValidationError, prefix: str = "") -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "<message>"
        parts.append(f"{prefix}{loc}: {err['msg']}")
    return f"invalid {kind}: " + "; ".join(parts)


def decode_metrics(raw: bytes | str | None) -> DecodedMetrics:
    """Read a message of novacron.metrics.raw: a single sample or a batch.

    Raises :class:`InvalidEvent` when the message as a whole is unreadable (not JSON, a bad
    single sample, a bad batch envelope). A batch whose envelope is valid yields its good
    samples and, separately, each bad one with its reason, so one bad sample costs nothing else.
    """
    if raw is None:
        raise InvalidEvent("empty message (no value)")
    if len(raw) > MAX_METRICS_MESSAGE_BYTES:
        raise InvalidEvent(f"message of {len(raw):,} bytes is over the {MAX_METRICS_MESSAGE_BYTES:,}-byte "
                           "limit of novacron.metrics.raw; send smaller batches")
    marker: bytes | str = b'"samples"' if isinstance(raw, bytes) else '"samples"'
    if marker not in raw:  # type: ignore[operator]  # a single sample, parsed once as before
        return DecodedMetrics([decode(MetricSample, raw)], [])
    try:  # the common case in one pass: a valid batch
        batch = MetricBatch.model_validate_json(raw)
        return DecodedMetrics(batch.samples, [], batch.host_id)
    except ValidationError:
        pass
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise InvalidEvent(f"invalid metric_batch: <message>: Invalid JSON: {exc}") from None
    if not isinstance(doc, dict) or "samples" not in doc:  # "samples" was inside a value
        return DecodedMetrics([decode(MetricSample, raw)], [])
    items = doc["samples"]
    envelope = {k: v for k, v in doc.items() if k != "samples"}
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH_SAMPLES:
        raise InvalidEvent(f"invalid metric_batch: samples: must be a list of 1 to "
                           f"{MAX_BATCH_SAMPLES} metric samples")
    try:  # the envelope on its own: its samples are judged one by one below
        _BatchEnvelope.model_validate(envelope)
    except ValidationError as exc:
        raise InvalidEvent(_reason(MetricBatch.kind, exc)) from None
    good: list[MetricSample] = []
    bad: list[BadSample] = []
    for i, item in enumerate(items):
        try:
            good.append(MetricSample.model_validate(item))
        except ValidationError as exc:
            bad.append(BadSample(i, _reason(MetricSample.kind, exc, f"samples.{i}."),
                                 json.dumps(item)))
    host = envelope.get("host_id")
    return DecodedMetrics(good, bad, host if isinstance(host, str) else None)


class _BatchEnvelope(Event):
    """A batch's fields other than its samples, validated on their own (see decode_metrics)."""

    host_id: Identifier | None = None
    source: Text = "collector"


# --- Fleet drift: what the reconciler found between PostgreSQL and libvirt ------------------


class FleetChange(StrEnum):
    DISCOVERED = "discovered"  # a domain PostgreSQL did not know, now recorded
    VANISHED = "vanished"  # recorded on a host that answered; defined on no reachable host
    REAPPEARED = "reappeared"  # a vanished (or failed) VM is defined somewhere again
    MOVED = "moved"  # found on another host than recorded
    DUPLICATE = "duplicate"  # active on two hosts (or ambiguous): a split brain to fence
    STALE_COPY = "stale-copy"  # runs on one host, still defined (inactive) on another
    STATE_DRIFT = "state-drift"  # what libvirt reports differs from the operator's intent
    DRIFT_RESOLVED = "drift-resolved"  # a reported drift is over
    HOST_ADDED = "host-added"  # an inventory host PostgreSQL did not know
    HOST_UNREACHABLE = "host-unreachable"  # its VMs' state is unknown until it answers
    HOST_UP = "host-up"  # answered again


class FleetEventMsg(Event):
    """One fleet event, as stored in ``fleet_events`` (``record_id``) and sent on novacron.fleet."""

    kind: ClassVar[str] = "fleet"
    change: FleetChange
    host_id: str | None = Field(default=None, min_length=1, max_length=200)
    vm_id: str | None = Field(default=None, min_length=1, max_length=200)
    reason: str = Field(min_length=1)
    detail: dict[str, Any] = Field(default_factory=dict)
    record_id: int | None = None

    @property
    def key(self) -> str:
        return self.vm_id or self.host_id or "fleet"
