"""The scheduling cycle: validate -> filter (all hosts, vectorised) -> score the feasible hosts
-> weighted sum -> pick the best (ties: first in fleet order) -> choose NUMA cells -> commit.

Every host is evaluated; there is no sampling, so the result never depends on luck. Group
requests place replicas one by one and roll back all of them if any cannot be placed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from . import explain
from .filters.vm_affinity import allowed_cells
from .framework import CycleContext, FilterPlugin, FilterResult, PluginSettings, ScorePlugin
from .registry import DEFAULT_FILTER_ORDER, FILTERS, SCORERS
from .state import FleetState
from .strategies import weights_for
from .symmetric import mirrored
from .types import (
    DecisionStatus,
    FieldError,
    GroupDecision,
    NumaPolicy,
    PlacementDecision,
    PlacementRequest,
    VMSpec,
)
from .validation import validate_request

TIE_TOLERANCE = 1e-9  # scores this close are a tie (scores are weighted sums of [0, 1] terms)


@dataclass(frozen=True)
class Scored:
    hosts: NDArray[np.intp]  # feasible host indices, ascending
    names: tuple[str, ...]  # scorers that spoke
    weights: NDArray[np.float64]
    raw: NDArray[np.float64]  # (scorers, hosts) in [0, 1]
    totals: NDArray[np.float64]


class Scheduler:
    def __init__(
        self,
        state: FleetState,
        settings: PluginSettings | None = None,
        filters: Sequence[str] = DEFAULT_FILTER_ORDER,
        n_alternatives: int = 3,
    ) -> None:
        self.state = state
        self.settings = settings or PluginSettings()
        self.filters: list[FilterPlugin] = [FILTERS[name](self.settings) for name in filters]
        self.scorers: dict[str, ScorePlugin] = {n: f(self.settings) for n, f in SCORERS.items()}
        self.n_alternatives = n_alternatives

    # -- stages ------------------------------------------------------------------------------

    def context(self, request: PlacementRequest) -> CycleContext:
        return CycleContext.build(self.state, request, self.settings)

    def run_filters(self, ctx: CycleContext) -> list[tuple[FilterPlugin, FilterResult]]:
        out = []
        for f in self.filters:
            res = f.filter(ctx)
            if res is not None:
                out.append((f, res))
        return out

    def score(self, ctx: CycleContext, hosts: NDArray[np.intp]) -> Scored:
        weights = weights_for(ctx.request.strategy, ctx.request.preferences)
        names: list[str] = []
        ws: list[float] = []
        raw = np.empty((len(weights), hosts.size))
        for name, w in weights.items():
            s = self.scorers[name].score(ctx, hosts)
            if s is None:
                continue
            raw[len(names)] = s
            names.append(name)
            ws.append(w)
        raw = raw[: len(names)]
        wv = np.asarray(ws, dtype=np.float64)
        totals = wv @ raw if names else np.zeros(hosts.size)
        return Scored(hosts, tuple(names), wv, raw, totals)

    # -- decisions ---------------------------------------------------------------------------

    def decide(
        self, request: PlacementRequest, *, commit: bool = True, explain_alternatives: bool = True
    ) -> PlacementDecision:
        vm_id = request.vm.vm_id if isinstance(request.vm.vm_id, str) else str(request.vm.vm_id)
        errors = validate_request(request, self.state)
        if request.replicas != 1 and not errors:
            errors.append(FieldError("replicas", "use decide_group for more than one replica"))
        if not errors and request.vm.vm_id in self.state.vms:
            errors.append(FieldError("vm.vm_id", f"{vm_id!r} is already placed"))
        if errors:
            return PlacementDecision(
                vm_id=vm_id,
                status=DecisionStatus.INVALID,
                explanation="invalid request: " + "; ".join(str(e) for e in errors),
                errors=tuple(errors),
            )
        return self._decide(request, commit, explain_alternatives)

    def _decide(
        self, request: PlacementRequest, commit: bool, explain_alternatives: bool
    ) -> PlacementDecision:
        s = self.state
        ctx = self.context(request)
        results = self.run_filters(ctx)
        ok = np.ones(s.n_hosts, dtype=bool)
        elim: list[int] = []  # hosts each filter removes first, in filter order
        for _, r in results:
            fail = r.codes != 0
            elim.append(int(np.count_nonzero(fail & ok)))
            ok &= ~fail
        hosts = np.flatnonzero(ok)
        if hosts.size == 0:
            wp = explain.why_pending(ctx, results)
            text = f"pending: no host fits {request.vm.vm_id}"
            if wp.binding:
                text += f"; binding constraint: {wp.binding}"
            if wp.hints:
                text += "; " + wp.hints[0]
            return PlacementDecision(
                request.vm.vm_id, DecisionStatus.PENDING, explanation=text, why_pending=wp
            )
        sc = self.score(ctx, hosts)
        # Ties go to the first host in fleet order, also when float summation order leaves
        # them an ulp apart (argmax alone picked by that noise).
        best = int(np.flatnonzero(sc.totals >= sc.totals.max() - TIE_TOLERANCE)[0]) if sc.totals.size else 0
        h = int(hosts[best])
        cell_use = self._cells(ctx, h)
        if commit:
            s.place(request.vm, h, cell_use, mirrored(request.constraints.affinity))
        alts = (
            explain.alternatives(
                s.host_ids,
                hosts,
                sc.totals,
                sc.raw,
                sc.names,
                sc.weights,
                best,
                self.n_alternatives,
            )
            if explain_alternatives
            else ()
        )
        filtered = ", ".join(
            f"{f.name} {int(c)}" for (f, _), c in zip(results, elim, strict=True) if c
        )
        top = sorted(zip(sc.names, sc.weights * sc.raw[:, best], strict=True), key=lambda x: -x[1])[
            :3
        ]
        text = (
            f"placed {request.vm.vm_id} on {s.host_ids[h]} ({s.domain_name('rack', h)}) with score "
            f"{sc.totals[best]:.3f}, best of {hosts.size} feasible hosts out of {s.n_hosts}"
            + (f" (filtered out: {filtered})" if filtered else "")
            + ("; top contributions: " + ", ".join(f"{n} {v:.3f}" for n, v in top) if top else "")
        )
        return PlacementDecision(
            vm_id=request.vm.vm_id,
            status=DecisionStatus.PLACED,
            target_node=s.host_ids[h],
            numa_cells=tuple(c for c, _, _ in cell_use),
            score=float(sc.totals[best]),
            explanation=text,
            breakdown=explain.breakdown(sc.names, sc.weights, sc.raw[:, best]),
            alternatives=alts,
            feasible_hosts=int(hosts.size),
            trace=tuple((f.name, c) for (f, _), c in zip(results, elim, strict=True)),
        )

    def _cells(self, ctx: CycleContext, host: int) -> tuple[tuple[int, int, int], ...]:
        vm = ctx.vm
        if vm.numa == NumaPolicy.NONE:
            return ()
        allowed = allowed_cells(ctx)
        if allowed is None:
            cells = self.state.choose_cells(vm, host)
        else:
            cells = self.state.choose_cells(vm, host, allowed[host])
        # The NUMA filter guarantees a cell for REQUIRE; PREFER always gets an answer.
        assert cells is not None
        return cells

    def decide_group(self, request: PlacementRequest, *, commit: bool = True) -> GroupDecision:
        errors = validate_request(request, self.state)
        ids = (
            [replica_id(request.vm.vm_id, i) for i in range(int(request.replicas))]
            if not errors
            else []
        )
        errors += [
            FieldError("vm.vm_id", f"replica {r!r} is already placed")
            for r in ids
            if r in self.state.vms
        ]
        if errors:
            return GroupDecision(
                DecisionStatus.INVALID,
                (),
                "invalid request: " + "; ".join(str(e) for e in errors),
                tuple(errors),
            )
        placed: list[PlacementDecision] = []
        for rid in ids:
            one = replace(request, vm=replace(request.vm, vm_id=rid), replicas=1)
            d = self._decide(one, commit=True, explain_alternatives=True)
            if d.status != DecisionStatus.PLACED:
                for p in placed:
                    self.state.remove(p.vm_id)
                return GroupDecision(
                    DecisionStatus.PENDING,
                    (*placed, d),
                    f"pending: replica {len(placed) + 1} of {len(ids)} does not fit "
                    f"({d.explanation}); "
                    f"none placed (all-or-nothing)",
                )
            placed.append(d)
        if not commit:
            for p in placed:
                self.state.remove(p.vm_id)
        nodes = ", ".join(str(p.target_node) for p in placed)
        return GroupDecision(
            DecisionStatus.PLACED, tuple(placed), f"placed {len(placed)} replicas on {nodes}"
        )

    def remove(self, vm_id: str) -> None:
        self.state.remove(vm_id)


def replica_id(vm_id: str, i: int) -> str:
    return f"{vm_id}-{i}"


def place_all(
    scheduler: Scheduler, vms: Sequence[VMSpec], request: PlacementRequest
) -> list[PlacementDecision]:
    """Place VMs one by one with a shared request template (constraints, strategy)."""
    return [scheduler.decide(replace(request, vm=vm)) for vm in vms]
