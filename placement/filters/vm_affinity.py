"""Required VM-VM affinity and anti-affinity by label selector, per topology domain.

Reads the fleet's per-domain counters, never the VM list. As in Kubernetes, the first VM of
an affinity group may go anywhere when no VM matches yet and it matches its own selector.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ..framework import CycleContext, FilterResult, Hosts, PluginSettings, codes_from
from ..types import AffinityTerm, TopologyKey
from .numa import cell_fits


def term_cells_ok(ctx: CycleContext, term: AffinityTerm) -> NDArray[np.bool_]:
    """(hosts, cells) where a NUMA-keyed term is satisfied (the VM must then use that cell)."""
    s = ctx.state
    dc = s.counts(term.selector)
    if not term.anti and dc.total == 0 and term.selector.matches(ctx.vm.labels):
        return s.cell_valid.copy()
    ok = dc.cell == 0 if term.anti else dc.cell > 0
    return ok & s.cell_valid


def allowed_cells(ctx: CycleContext) -> NDArray[np.bool_] | None:
    """Cells the VM may use given hard NUMA-keyed terms, or None when there are none."""
    terms = [
        t for t in ctx.request.constraints.affinity if t.hard and t.topology_key == TopologyKey.NUMA
    ]
    if not terms:
        return None
    ok = ctx.state.cell_valid.copy()
    for t in terms:
        ok &= term_cells_ok(ctx, t)
    return ok


def term_hosts_ok(ctx: CycleContext, term: AffinityTerm) -> NDArray[np.bool_]:
    s = ctx.state
    dom = s.domain_of(term.topology_key)
    assert dom is not None
    dc = s.counts(term.selector)
    if not term.anti and dc.total == 0 and term.selector.matches(ctx.vm.labels):
        return np.ones(s.n_hosts, dtype=bool)
    counts = s.domain_counts(term.selector, term.topology_key)
    cnt = counts if term.topology_key == TopologyKey.HOST else counts[dom]
    return cnt == 0 if term.anti else cnt > 0


class VMAffinity:
    name = "vm_affinity"

    def __init__(self, settings: PluginSettings) -> None:
        del settings

    def filter(self, ctx: CycleContext) -> FilterResult | None:
        terms = [t for t in ctx.request.constraints.affinity if t.hard]
        # Placed VMs' required anti-affinity binds this VM too, whatever its own request says.
        declared = ctx.state.declared.blocked(ctx.vm.labels)
        if not terms and declared is None:
            return None
        ok = np.ones(ctx.state.n_hosts, dtype=bool) if declared is None else ~declared
        host_terms = [t for t in terms if t.topology_key != TopologyKey.NUMA]
        for t in host_terms:
            ok &= term_hosts_ok(ctx, t)
        cells = allowed_cells(ctx)
        if cells is not None:
            ok &= (cells & cell_fits(ctx).T).any(axis=1)
        what = "; ".join(
            f"{'anti-' if t.anti else ''}affinity {t.selector} per {t.topology_key}" for t in terms
        )
        if declared is not None:
            what = "; ".join(filter(None, [what, "anti-affinity that placed VMs declared to it"]))
        return FilterResult(codes_from(~ok), f"violates required {what}")

    def hints(self, ctx: CycleContext, hosts: Hosts) -> list[str]:
        out = []
        s = ctx.state
        for t in ctx.request.constraints.affinity:
            if not t.hard:
                continue
            if t.anti and t.topology_key != TopologyKey.NUMA:
                # The cheapest fix: the blocked domain with the fewest matching VMs.
                dom = s.domain_of(t.topology_key)
                assert dom is not None
                counts = s.domain_counts(t.selector, t.topology_key)
                d = dom[hosts]
                best = int(d[np.argmin(counts[d])])
                n_vms = int(counts[best])
                freed = int((d == best).sum())
                h = int(hosts[np.flatnonzero(d == best)[0]])
                out.append(
                    f"move the {n_vms} VM(s) matching {t.selector} out of {t.topology_key} "
                    f"{s.domain_name(t.topology_key, h)} (frees {freed} host(s) there), add a "
                    f"{t.topology_key}, or make the anti-affinity soft"
                )
            elif t.anti:
                out.append(
                    f"move VMs matching {t.selector} off one NUMA cell, or make the "
                    f"anti-affinity soft: {hosts.size} hosts are blocked only by it"
                )
            else:
                out.append(
                    f"place a VM matching {t.selector} in the {t.topology_key} of one of "
                    f"{hosts.size} hosts blocked only by affinity, or make it soft"
                )
        if ctx.state.declared.blocked(ctx.vm.labels) is not None:
            out.append(
                "some hosts are blocked by required anti-affinity that placed VMs declared "
                "against this VM's labels: move those VMs or make their anti-affinity soft"
            )
        return out[:2]
