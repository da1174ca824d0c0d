"""The plug-in contract: one Protocol per stage, as in the Kubernetes scheduling framework.

A filter looks at every host at once (vectorised) and returns a Status code per host, or None
to say "not relevant for this request" (Kubernetes' Skip). A scorer returns a value in [0, 1]
per candidate host, or None. Plug-ins may also offer `hints` to say what would make the VM fit
on hosts where they are the only blocker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from .state import FleetState
from .types import PlacementRequest, VMSpec

Codes = NDArray[np.int8]
Hosts = NDArray[np.intp]
Scores = NDArray[np.float64]


@dataclass(frozen=True)
class PluginSettings:
    """Operator settings handed to every factory; plug-ins never read globals."""

    # Shapes (vcpus, MiB[, GPUs]) the fragmentation scorer keeps schedulable, largest first.
    fragmentation_shapes: tuple[tuple[float, ...], ...] = (
        (32.0, 131072.0),
        (16.0, 65536.0),
        (8.0, 32768.0),
    )
    # Decayed failure count at which the recent-failure scorer has halved a host's score.
    failure_half_score: float = 1.0


@dataclass
class CycleContext:
    """Everything one scheduling cycle shares between plug-ins."""

    state: FleetState
    request: PlacementRequest
    settings: PluginSettings
    demand: NDArray[np.int64]
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def vm(self) -> VMSpec:
        return self.request.vm

    @staticmethod
    def build(
        state: FleetState, request: PlacementRequest, settings: PluginSettings
    ) -> CycleContext:
        return CycleContext(
            state=state,
            request=request,
            settings=settings,
            demand=np.asarray(request.vm.demand(), dtype=np.int64),
        )


@dataclass(frozen=True)
class FilterResult:
    codes: Codes  # StatusCode per host
    reason: str  # why a host fails, in words


@runtime_checkable
class FilterPlugin(Protocol):
    name: str

    def filter(self, ctx: CycleContext) -> FilterResult | None: ...


@runtime_checkable
class ScorePlugin(Protocol):
    name: str

    def score(self, ctx: CycleContext, hosts: Hosts) -> Scores | None: ...


@runtime_checkable
class HintPlugin(Protocol):
    def hints(self, ctx: CycleContext, hosts: Hosts) -> list[str]:
        """What would make the VM fit on `hosts`, where this plug-in is the only blocker."""
        ...


def codes_from(fail: Any, unresolvable: Any = None) -> Codes:
    """Codes from masks: fail -> UNSCHEDULABLE, fail & unresolvable -> ..._UNRESOLVABLE."""
    fail = np.asarray(fail, dtype=bool)
    codes: Codes = fail.astype(np.int8)
    if unresolvable is not None:
        codes[fail & np.asarray(unresolvable, dtype=bool)] = 2
    return codes
