"""Hard anti-affinity binds both ways: the registry of what placed VMs declared.

A VM placed with required anti-affinity to selector G (per host, rack or zone) keeps G's
members out of its domain, as Kubernetes does for existing pods' anti-affinity; without it a
later G member, whose own request says nothing, could land next to it. Per (selector, key)
the registry counts declaring VMs per domain, indexed by one label pair of the selector like
the fleet's counters, so a decision looks up only declarations its labels can match.
NUMA-keyed terms are not mirrored: cells are chosen after the host, per VM.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from .types import AffinityTerm, LabelSelector, TopologyKey

I32 = NDArray[np.int32]
Key = tuple[LabelSelector, str]


def mirrored(terms: Sequence[AffinityTerm]) -> tuple[Key, ...]:
    """The terms of a request that bind both ways: hard anti-affinity on host, rack or zone."""
    return tuple(
        (t.selector, t.topology_key)
        for t in terms
        if t.hard and t.anti and t.topology_key != TopologyKey.NUMA
    )


class DeclaredAntiAffinity:
    def __init__(self, domain_of: Mapping[str, I32], n_domains: Mapping[str, int]) -> None:
        self.domain_of = domain_of  # topology key -> host -> domain index
        self.n_domains = n_domains
        self.counts: dict[Key, I32] = {}
        self.by_label: dict[tuple[str, str], list[Key]] = {}
        self.match_all: list[Key] = []
        self.by_vm: dict[str, tuple[Key, ...]] = {}

    def add(self, vm_id: str, host: int, keys: tuple[Key, ...]) -> None:
        if not keys:
            return
        self.by_vm[vm_id] = keys
        for key in keys:
            arr = self.counts.get(key)
            if arr is None:
                arr = np.zeros(self.n_domains[key[1]], dtype=np.int32)
                self.counts[key] = arr
                sel = key[0]
                if sel.match_labels:
                    self.by_label.setdefault(sel.match_labels[0], []).append(key)
                else:
                    self.match_all.append(key)
            arr[self.domain_of[key[1]][host]] += 1

    def remove(self, vm_id: str, host: int) -> None:
        for key in self.by_vm.pop(vm_id, ()):
            arr = self.counts[key]
            arr[self.domain_of[key[1]][host]] -= 1
            if not arr.any():  # forget it, so place-then-remove restores the registry exactly
                del self.counts[key]
                sel = key[0]
                if sel.match_labels:
                    keys = self.by_label[sel.match_labels[0]]
                    keys.remove(key)
                    if not keys:
                        del self.by_label[sel.match_labels[0]]
                else:
                    self.match_all.remove(key)

    def blocked(self, labels: Mapping[str, str]) -> NDArray[np.bool_] | None:
        """Hosts a VM with these labels may not use because of what placed VMs declared, or
        None when no declaration matches it (the common case, answered without arrays)."""
        keys = list(self.match_all)
        for pair in labels.items():
            keys.extend(self.by_label.get(pair, ()))
        out: NDArray[np.bool_] | None = None
        for key in keys:
            if not key[0].matches(labels):
                continue
            arr = self.counts[key]
            # Host-keyed counts are already per host: skip the gather (the common case).
            hit = arr > 0 if key[1] == TopologyKey.HOST else (arr > 0)[self.domain_of[key[1]]]
            out = hit if out is None else out | hit
        return out
