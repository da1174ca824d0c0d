"""What the agents need from outside the stream: the fleet, the database, the forecast client.

Set once by the process that runs the worker (``novacron worker``/``novacron up`` or a test)
before the app starts; agents read it, never construct it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from novacron.actuators.connection import Fleet
from novacron.actuators.fencing import PowerSwitch
from novacron.autoscaler.live import default_memory_policy, default_vcpu_policy
from novacron.autoscaler.policy import ScalingPolicy
from novacron.healing import HealerSettings
from novacron.serving.client import ForecastClient
from novacron.streams.ingest import Hygiene
from sqlalchemy.orm import Session, sessionmaker


@dataclass
class Runtime:
    fleet: Fleet
    sessions: sessionmaker[Session]
    forecasts: ForecastClient
    scaling: ScalingPolicy = field(default_factory=default_vcpu_policy)  # a VM's vCPUs
    memory_scaling: ScalingPolicy = field(default_factory=default_memory_policy)  # its memory
    paused: bool = False
    feature_window_s: float = 900.0
    history_points: int = 240
    # A key's features are published when its window's event time has moved this far since
    # the last publication (and at most once per batch): the decision agent's cadence.
    feature_emit_every_s: float = 60.0
    horizon_s: float = 900.0
    evaluate_every_s: float = 60.0
    # Where features are also written for dashboards; empty disables it.
    tsdb_url: str = ""
    # The event-time window a metric sample must fall in (past: relative to its host's newest
    # event time; future: to the wall clock); outside it, the sample is dead-lettered.
    metric_hygiene: Hygiene = field(default_factory=Hygiene)
    # The hosts' power (IPMI, Redfish, a PDU; on one machine, actuators.local_hosts): the heal
    # agent fences a failed host by cutting it and reading it back off. Without one it fences
    # through libvirt only, which proves nothing about a host that does not answer, so a dead
    # host's VMs are never restarted elsewhere (streams.heal says so at start).
    power_switch: PowerSwitch | None = None
    # The healer's thresholds (host timeout, quorum, budgets) and its autonomy mode.
    healing: HealerSettings = field(default_factory=HealerSettings)


_current: Runtime | None = None


def install(runtime: Runtime) -> None:
    global _current
    _current = runtime


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("streams.runtime.install() must be called before the worker starts")
    return _current
