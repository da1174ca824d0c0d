"""What an operator tells the healer about a VM, as labels on the VM itself.

Labels live in the domain's NovaCron metadata (actuators.xml), so they travel with the VM
through migrations and re-definitions. Read at registration:

- ``novacron.io/healing-priority``: an integer; higher restarts first when capacity is short
  (default 0; negative values let batch work yield).
- ``novacron.io/standby``: the vm id of this VM's warm standby; with it, losing the VM's host
  can be healed by promoting the standby (the FAILOVER rung) instead of a cold restart.
- ``novacron.io/guest-agent``: ``true`` or ``false``; ``true`` means a guest agent reports
  heartbeats and services, so its silence (not metric silence) is the liveness signal and the
  RESTART_SERVICE rung is open.

A bad value is ignored (the default applies) and named in the returned problems, never an
error: one mistyped label must not keep the healer from watching the rest of the fleet. This
module is pure; the caller that reads the labels logs the problems.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

PRIORITY_LABEL = "novacron.io/healing-priority"
STANDBY_LABEL = "novacron.io/standby"
GUEST_AGENT_LABEL = "novacron.io/guest-agent"

# Priorities only order restarts; a bound keeps a typo (an extra digit or ten) visible.
PRIORITY_RANGE = (-1000, 1000)


@dataclass(frozen=True, slots=True)
class HealingTraits:
    """The healing-relevant facts of one VM, as :class:`~novacron.healing.VmRegistered` takes them."""

    priority: int = 0
    standby_id: str | None = None
    has_guest_agent: bool = False


@dataclass(frozen=True, slots=True)
class ParsedTraits:
    traits: HealingTraits
    problems: list[str] = field(default_factory=list)  # one sentence per ignored label


class InventoryVm(NamedTuple):
    """One VM of a host's inventory (actuators.placement_state.inventory)."""

    vm_id: str
    running: bool
    size: int  # vCPUs
    traits: HealingTraits = HealingTraits()


def parse_traits(vm_id: str, labels: Mapping[str, str]) -> ParsedTraits:
    """The VM's :class:`HealingTraits` from its labels; bad values fall back to the default."""
    problems: list[str] = []
    priority = 0
    raw = labels.get(PRIORITY_LABEL)
    if raw is not None:
        try:
            value = int(raw.strip())
        except ValueError:
            problems.append(f"{vm_id}: {PRIORITY_LABEL}={raw!r} is not an integer; using 0")
        else:
            lo, hi = PRIORITY_RANGE
            if lo <= value <= hi:
                priority = value
            else:
                problems.append(f"{vm_id}: {PRIORITY_LABEL}={raw!r} is outside [{lo}, {hi}]; using 0")
    standby: str | None = None
    raw = labels.get(STANDBY_LABEL)
    if raw is not None:
        name = raw.strip()
        if not name:
            problems.append(f"{vm_id}: {STANDBY_LABEL} is empty; no standby")
        elif name == vm_id:
            problems.append(f"{vm_id}: {STANDBY_LABEL} names the VM itself; no standby")
        else:
            standby = name
    agent = False
    raw = labels.get(GUEST_AGENT_LABEL)
    if raw is not None:
        flag = raw.strip().lower()
        if flag in ("true", "false"):
            agent = flag == "true"
        else:
            problems.append(f"{vm_id}: {GUEST_AGENT_LABEL}={raw!r} is not 'true' or 'false'; "
                            "using false")
    return ParsedTraits(HealingTraits(priority, standby, agent), problems)
