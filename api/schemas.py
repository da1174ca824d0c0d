"""Request and response models. Every input is bounded and typed; unknown fields are refused,
so a typo is a 422 naming the field rather than a silently ignored setting."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$"
Identifier = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
LabelKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$")]
LabelValue = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._/-]{0,63}$")]
Labels = Annotated[dict[LabelKey, LabelValue], Field(max_length=64)]
Text = Annotated[str, StringConstraints(max_length=2000, pattern=r"^[^\x00]*$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorOut(BaseModel):
    """Every 4xx body: a message, or (bad fields) a list of {loc, msg, type}."""

    detail: str | list[Any] | dict[str, Any]


# Documented on every route: bodies and parameters are validated everywhere.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Malformed request (body is not JSON, bad Content-Length)"},
    413: {"model": ErrorOut, "description": "Request body over the size limit"},
    422: {"model": ErrorOut, "description": "Invalid input: which field and why"},
}


class VMOut(BaseModel):
    vm_id: str
    host_id: str | None
    vcpus: int
    memory_mib: int
    labels: dict[str, Any]
    tags: list[Any]
    state: str = Field(description="what the actuators last reported (running, stopped, failed...)")
    updated_at: str
    desired_state: str | None = Field(default=None, description="the operator's intent: running | stopped")
    spec: dict[str, Any] = Field(default_factory=dict,
                                 description="every dimension it was placed with, disks and NICs as given")
    numa_cells: list[Any] = Field(default_factory=list, description="the host NUMA cells chosen for it")


class HostOut(BaseModel):
    host_id: str
    uri: str
    vcpus: int
    memory_mib: int
    labels: dict[str, Any]
    state: str


class TermIn(Strict):
    labels: Labels
    topology_key: Literal["numa", "host", "rack", "zone"] = "host"
    hard: bool = True
    weight: float = Field(default=1.0, ge=0, le=100)


class SpreadIn(Strict):
    labels: Labels
    topology_key: Literal["numa", "host", "rack", "zone"] = "rack"
    max_skew: int = Field(default=1, ge=1, le=1000)
    hard: bool = True
    weight: float = Field(default=1.0, ge=0, le=100)


class HostTermIn(Strict):
    label: LabelKey
    values: Annotated[list[LabelValue], Field(min_length=1, max_length=64)]
    operator: Literal["In", "NotIn"] = "In"
    hard: bool = True
    weight: float = Field(default=1.0, ge=0, le=100)


class DiskIn(Strict):
    """A file-backed disk, defined on the host as given (the file must exist there)."""

    source: Annotated[str, StringConstraints(min_length=2, max_length=1024,
                                             pattern=r"^/[A-Za-z0-9_.+\-/]+$")]
    target: Annotated[str, StringConstraints(pattern=r"^(vd|sd|hd)[a-z]{1,2}$")]
    bus: Literal["virtio", "sata", "scsi", "ide"] = "virtio"
    format: Literal["raw", "qcow2"] = "qcow2"
    device: Literal["disk", "cdrom"] = "disk"
    readonly: bool = False

    @model_validator(mode="after")
    def _no_traversal(self) -> DiskIn:
        if "/../" in f"{self.source}/" or "/./" in f"{self.source}/":
            raise ValueError(f"disk source {self.source!r}: relative components are not allowed")
        return self


class NicIn(Strict):
    """A network interface: on a libvirt network, a host bridge, or QEMU's user networking."""

    kind: Literal["network", "bridge", "user"] = "network"
    source: Annotated[str, StringConstraints(min_length=1, max_length=64,
                                             pattern=r"^[A-Za-z0-9_.\-]+$")] | None = None
    mac: Annotated[str, StringConstraints(pattern=r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")] | None = None
    model: Literal["virtio", "e1000", "rtl8139"] = "virtio"

    @model_validator(mode="after")
    def _source_matches_kind(self) -> NicIn:
        if (self.kind == "user") != (self.source is None):
            raise ValueError(f"a {self.kind} interface "
                             + ("takes no source" if self.kind == "user" else "needs a source"))
        return self


Disks = Annotated[list[DiskIn], Field(max_length=16)]
Nics = Annotated[list[NicIn], Field(max_length=16)]


def _unique_devices(disks: list[DiskIn], nics: list[NicIn]) -> None:
    targets = [d.target for d in disks]
    if len(set(targets)) != len(targets):
        raise ValueError(f"two disks on one target ({sorted(targets)})")
    macs = [n.mac for n in nics if n.mac is not None]
    if len(set(macs)) != len(macs):
        raise ValueError("two interfaces with one MAC address")


class VMSpecIn(Strict):
    vm_id: Identifier | None = None
    vcpus: float = Field(gt=0, le=512)
    memory_mib: float = Field(gt=0, le=16 * 1024 * 1024)
    net_mbps: float = Field(default=0, ge=0, le=1e6)
    disk_gib: float = Field(default=0, ge=0, le=1e6)
    iops: float = Field(default=0, ge=0, le=1e8)
    gpus: float = Field(default=0, ge=0, le=64)
    numa: Literal["none", "prefer", "require"] = "none"
    labels: Labels = Field(default_factory=dict)
    disks: Disks = Field(default_factory=list)
    nics: Nics = Field(default_factory=list)

    @model_validator(mode="after")
    def _devices(self) -> VMSpecIn:
        _unique_devices(self.disks, self.nics)
        return self


class PlacementIn(Strict):
    vm: VMSpecIn
    strategy: Literal["spread", "binpack", "balanced", "cost", "fragmentation"] = "balanced"
    affinity: Annotated[list[TermIn], Field(max_length=16)] = Field(default_factory=list)
    anti_affinity: Annotated[list[TermIn], Field(max_length=16)] = Field(default_factory=list)
    spread: Annotated[list[SpreadIn], Field(max_length=16)] = Field(default_factory=list)
    host_affinity: Annotated[list[HostTermIn], Field(max_length=16)] = Field(default_factory=list)
    allow_spot: bool = False
    dry_run: bool = Field(default=False, description="decide and explain, record nothing")


class VMCreate(Strict):
    """A VM as v1 creates it. Every field past ``start`` is optional (v1 only ever adds): the
    dimensions and constraints the placement engine decides on, as in v2's PlacementIn."""

    vm_id: Identifier | None = None
    vcpus: int = Field(ge=1, le=512)
    memory_mib: int = Field(ge=64, le=16 * 1024 * 1024)
    labels: Labels = Field(default_factory=dict)
    tags: Annotated[list[LabelValue], Field(max_length=64)] = Field(default_factory=list)
    start: bool = True
    net_mbps: float = Field(default=0, ge=0, le=1e6)
    disk_gib: float = Field(default=0, ge=0, le=1e6)
    iops: float = Field(default=0, ge=0, le=1e8)
    gpus: float = Field(default=0, ge=0, le=64)
    numa: Literal["none", "prefer", "require"] = "none"
    disks: Disks = Field(default_factory=list)
    nics: Nics = Field(default_factory=list)
    strategy: Literal["spread", "binpack", "balanced", "cost", "fragmentation"] = "balanced"
    affinity: Annotated[list[TermIn], Field(max_length=16)] = Field(default_factory=list)
    anti_affinity: Annotated[list[TermIn], Field(max_length=16)] = Field(default_factory=list)
    spread: Annotated[list[SpreadIn], Field(max_length=16)] = Field(default_factory=list)
    host_affinity: Annotated[list[HostTermIn], Field(max_length=16)] = Field(default_factory=list)
    allow_spot: bool = False

    @model_validator(mode="after")
    def _devices(self) -> VMCreate:
        _unique_devices(self.disks, self.nics)
        return self

    def placement(self) -> PlacementIn:
        """The same VM as a v2 placement request."""
        vm = VMSpecIn(vm_id=self.vm_id, vcpus=self.vcpus, memory_mib=self.memory_mib,
                      net_mbps=self.net_mbps, disk_gib=self.disk_gib, iops=self.iops, gpus=self.gpus,
                      numa=self.numa, labels=self.labels, disks=self.disks, nics=self.nics)
        return PlacementIn(vm=vm, strategy=self.strategy, affinity=self.affinity,
                           anti_affinity=self.anti_affinity, spread=self.spread,
                           host_affinity=self.host_affinity, allow_spot=self.allow_spot)


class AlternativeOut(BaseModel):
    host: str
    score: float
    why_lost: str
    breakdown: list[dict[str, Any]]


class DecisionOut(BaseModel):
    decision_id: uuid.UUID
    vm_id: str
    status: str = Field(description="placed | pending | awaiting-approval | recommended | rejected")
    target_host: str | None
    score: float | None
    explanation: str
    alternatives: list[dict[str, Any]]
    policy: str
    decided_at: str | None
    detail: dict[str, Any] = Field(default_factory=dict)
    applied: bool = False
    outcome: dict[str, Any] | None = Field(
        default=None, description="what the actuators made of it: {status, detail, host_id, at, "
                                  "duration_ms}; null until they report")


class PauseIn(Strict):
    paused: bool
    reason: Text = ""


class PauseOut(BaseModel):
    paused: bool
    reason: str
    updated_by: str | None
    updated_at: str | None


class ResolveIn(Strict):
    comment: Text | None = None


class OverrideIn(Strict):
    target_host: Identifier
    comment: Text | None = None


class PendingOut(BaseModel):
    decision_id: uuid.UUID
    action: str
    target_id: str
    decision: dict[str, Any]
    reason: str
    status: str
    created_at: str
    resolved_at: str | None
    resolved_by: str | None
    override: dict[str, Any] | None
    comment: str | None


class PolicyIn(Strict):
    spec: dict[str, Any] = Field(description="a policy document (the YAML policy as JSON)")
    source: Text | None = None


class PolicyYaml(Strict):
    yaml: Annotated[str, StringConstraints(max_length=512 * 1024)] | None = Field(
        default=None, description="policy YAML to lint (all documents); omit to lint the stored set")


class DryRunIn(Strict):
    vm_ids: Annotated[list[Identifier], Field(max_length=10_000)] | None = Field(
        default=None, description="limit the plan to these VMs; omit for every VM")
