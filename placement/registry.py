"""The explicit plug-in registry: a literal name -> factory map per stage, no directory walking."""

from __future__ import annotations

from collections.abc import Callable

from .filters.excluded_hosts import ExcludedHosts
from .filters.host_affinity import HostAffinity
from .filters.host_available import HostAvailable
from .filters.numa import NumaFit
from .filters.resources import ResourceFit
from .filters.spot import SpotAllowed
from .filters.topology_spread import TopologySpread
from .filters.vm_affinity import VMAffinity
from .framework import FilterPlugin, PluginSettings, ScorePlugin
from .scorers.balanced_allocation import BalancedAllocation
from .scorers.cost import Cost
from .scorers.fragmentation import Fragmentation
from .scorers.host_affinity import HostAffinityScore
from .scorers.least_allocated import LeastAllocated
from .scorers.most_allocated import MostAllocated
from .scorers.numa_locality import NumaLocality
from .scorers.recent_failure import RecentFailure
from .scorers.topology_spread import TopologySpreadScore
from .scorers.vm_affinity import VMAffinityScore

FilterFactory = Callable[[PluginSettings], FilterPlugin]
ScorerFactory = Callable[[PluginSettings], ScorePlugin]

FILTERS: dict[str, FilterFactory] = {
    "host_available": HostAvailable,
    "excluded_hosts": ExcludedHosts,
    "spot_allowed": SpotAllowed,
    "host_affinity": HostAffinity,
    "resources": ResourceFit,
    "numa": NumaFit,
    "vm_affinity": VMAffinity,
    "topology_spread": TopologySpread,
}

SCORERS: dict[str, ScorerFactory] = {
    "least_allocated": LeastAllocated,
    "most_allocated": MostAllocated,
    "balanced_allocation": BalancedAllocation,
    "cost": Cost,
    "fragmentation": Fragmentation,
    "numa_locality": NumaLocality,
    "vm_affinity": VMAffinityScore,
    "host_affinity": HostAffinityScore,
    "topology_spread": TopologySpreadScore,
    "recent_failure": RecentFailure,
}

# Most restrictive and cheapest first; "why pending" attributes each host to the first
# filter that rejects it, so this order is also the order of that report.
DEFAULT_FILTER_ORDER: tuple[str, ...] = (
    "host_available",
    "excluded_hosts",
    "spot_allowed",
    "host_affinity",
    "resources",
    "numa",
    "vm_affinity",
    "topology_spread",
)
