"""Fleet state as numpy arrays, updated incrementally on every place and remove.

Per-host capacity and usage are int64 matrices (hosts x resources). VM-VM constraints read
per-domain counters kept per label selector: a selector's counters are built by one scan the
first time a request uses it, then maintained on every place/remove, so a decision never
scans the VMs. Integer units make place-then-remove restore the state bit for bit.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .symmetric import DeclaredAntiAffinity
from .types import (
    CPU,
    MEM,
    RESOURCES,
    FieldError,
    Host,
    HostClass,
    LabelSelector,
    NumaPolicy,
    PlacementValidationError,
    TopologyKey,
    VMSpec,
)

I64 = NDArray[np.int64]
I32 = NDArray[np.int32]


@dataclass(frozen=True)
class PlacedVM:
    vm: VMSpec
    host: int
    demand: tuple[int, ...]
    # (cell, millicores, MiB) taken from each NUMA cell; empty for VMs that float.
    cell_use: tuple[tuple[int, int, int], ...]


class DomainCounts:
    """How many VMs matching one selector live in each domain, for each topology key."""

    def __init__(self, n_hosts: int, n_cells: int, n_racks: int, n_zones: int) -> None:
        self.host: I32 = np.zeros(n_hosts, dtype=np.int32)
        self.rack: I32 = np.zeros(n_racks, dtype=np.int32)
        self.zone: I32 = np.zeros(n_zones, dtype=np.int32)
        self.total = 0
        self._shape = (n_hosts, n_cells)
        self._cell: I32 | None = None  # most groups never pin cells: allocated on first use

    @property
    def cell(self) -> I32:
        if self._cell is None:
            self._cell = np.zeros(self._shape, dtype=np.int32)
        return self._cell


class FleetState:
    def __init__(
        self,
        hosts: Sequence[Host],
        host_classes: Mapping[str, HostClass] | None = None,
        max_counters: int = 4096,
    ):
        classes = dict(host_classes or {})
        classes.setdefault("default", HostClass())
        errors = _check_hosts(hosts, classes)
        if errors:
            raise PlacementValidationError(errors)
        self.hosts: tuple[Host, ...] = tuple(hosts)
        self.host_classes = classes
        self.host_ids: list[str] = [h.host_id for h in hosts]
        self.index: dict[str, int] = {hid: i for i, hid in enumerate(self.host_ids)}
        n = len(hosts)
        self.n_hosts = n
        raw = np.array(
            [
                [h.vcpus * 1000, h.memory_mib, h.net_mbps, h.disk_gib, h.iops, h.gpus * 1000]
                for h in hosts
            ],
            dtype=np.float64,
        ).reshape(n, len(RESOURCES))
        ratio = np.ones((n, len(RESOURCES)))
        reserved = np.zeros((n, len(RESOURCES)))
        for i, h in enumerate(hosts):
            hc = classes[h.host_class]
            for r, name in enumerate(RESOURCES):
                ratio[i, r] = hc.overcommit.get(name, 1.0)
            reserved[i, CPU] = hc.reserved_vcpus * 1000
            reserved[i, MEM] = hc.reserved_memory_mib
        # Schedulable capacity: overcommitted raw capacity minus the host's reserved headroom.
        self.raw: I64 = np.floor(raw).astype(np.int64)
        self.cap: I64 = np.maximum(np.floor(raw * ratio - reserved), 0).astype(np.int64)
        self.used: I64 = np.zeros((n, len(RESOURCES)), dtype=np.int64)
        # Derived, resource-major copies kept in step with `used` for the vectorised plug-ins
        # (contiguous rows are several times faster than strided columns): free capacity,
        # 1/capacity for CPU and memory (zero capacity: a huge factor, i.e. always full) and
        # the current CPU/memory utilisation. Recomputed per touched host from the integers,
        # so they too come back exactly after place-then-remove.
        cm = self.cap[:, [CPU, MEM]].T.astype(np.float64)
        self.inv_cap_t = np.divide(1.0, cm, out=np.full_like(cm, 1e18), where=cm > 0)
        self.free_t: I64 = np.ascontiguousarray((self.cap - self.used).T)
        self.util_t = np.zeros((2, n), dtype=np.float64)
        self.vm_count: I32 = np.zeros(n, dtype=np.int32)

        max_cells = max([len(h.numa_cells) for h in hosts] + [1])
        self.n_cells = max_cells
        self.cell_cap: I64 = np.zeros((n, max_cells, 2), dtype=np.int64)
        self.cell_valid = np.zeros((n, max_cells), dtype=bool)
        for i, h in enumerate(hosts):
            cells = h.numa_cells or ()
            if not cells:
                # Pinned VMs are not overcommitted: a cell offers its raw CPUs and memory.
                self.cell_cap[i, 0] = (self.raw[i, CPU], self.raw[i, MEM])
                self.cell_valid[i, 0] = True
            for c, cell in enumerate(cells):
                self.cell_cap[i, c] = (round(cell.vcpus * 1000), round(cell.memory_mib))
                self.cell_valid[i, c] = True
        self.cell_used: I64 = np.zeros((n, max_cells, 2), dtype=np.int64)
        # Resource-major, cell-major copies (resource, cell, host) for the NUMA plug-ins.
        self.cell_cap_t: I64 = np.ascontiguousarray(self.cell_cap.transpose(2, 1, 0))
        self.cell_free_t: I64 = self.cell_cap_t.copy()
        self.cell_valid_t = np.ascontiguousarray(self.cell_valid.T)

        self.rack_names, self.rack_of = _intern([f"{h.zone}/{h.rack}" for h in hosts])
        self.zone_names, self.zone_of = _intern([h.zone for h in hosts])
        self.declared = DeclaredAntiAffinity(
            {
                TopologyKey.HOST: np.arange(n, dtype=np.int32),
                TopologyKey.RACK: self.rack_of,
                TopologyKey.ZONE: self.zone_of,
            },
            {
                TopologyKey.HOST: n,
                TopologyKey.RACK: len(self.rack_names),
                TopologyKey.ZONE: len(self.zone_names),
            },
        )
        self.cordoned = np.array([h.cordoned for h in hosts], dtype=bool).reshape(n)
        self.maintenance = np.array([h.maintenance for h in hosts], dtype=bool).reshape(n)
        self.failures = np.array([h.recent_failures for h in hosts], dtype=np.float64).reshape(n)
        self.price = np.array(
            [classes[h.host_class].price_per_hour for h in hosts], dtype=np.float64
        ).reshape(n)
        self.spot = np.array([classes[h.host_class].spot for h in hosts], dtype=bool).reshape(n)
        self.max_price = float(self.price.max()) if n else 1.0
        # Host labels as interned codes per label key (-1: label absent), for vectorised matching.
        self.label_values: dict[str, dict[str, int]] = {}
        self.label_codes: dict[str, I32] = {}
        for i, h in enumerate(hosts):
            for k, v in h.labels.items():
                vals = self.label_values.setdefault(k, {})
                codes = self.label_codes.get(k)
                if codes is None:
                    codes = np.full(n, -1, dtype=np.int32)
                    self.label_codes[k] = codes
                codes[i] = vals.setdefault(v, len(vals))
        self.vms: dict[str, PlacedVM] = {}
        # Counters per selector, least recently used first; evicting one only costs a rebuild
        # from the label index on its next use, so memory stays bounded at any fleet size.
        self.counters: OrderedDict[LabelSelector, DomainCounts] = OrderedDict()
        self.max_counters = max_counters
        # Indexes so neither building a counter nor updating counters scans everything:
        # VMs by label pair, and registered selectors by one of their label pairs.
        self.vms_by_label: dict[tuple[str, str], dict[str, int]] = {}  # pair -> vm -> host
        self.pinned: set[str] = set()  # VMs holding NUMA cells
        self.selectors_by_label: dict[tuple[str, str], list[LabelSelector]] = {}
        self.match_all: list[LabelSelector] = []

    # -- topology ----------------------------------------------------------------------------

    def domain_of(self, key: str) -> I32 | None:
        """Host -> domain index for a host-level key; None for NUMA (cells are per host)."""
        if key == TopologyKey.HOST:
            return np.arange(self.n_hosts, dtype=np.int32)
        if key == TopologyKey.RACK:
            return self.rack_of
        if key == TopologyKey.ZONE:
            return self.zone_of
        return None

    def domain_name(self, key: str, host: int) -> str:
        if key == TopologyKey.RACK:
            return self.rack_names[int(self.rack_of[host])]
        if key == TopologyKey.ZONE:
            return self.zone_names[int(self.zone_of[host])]
        return self.host_ids[host]

    def counts(self, selector: LabelSelector) -> DomainCounts:
        dc = self.counters.get(selector)
        if dc is not None:
            self.counters.move_to_end(selector)
        else:
            if len(self.counters) >= self.max_counters:
                self._evict(next(iter(self.counters)))
            dc = DomainCounts(
                self.n_hosts, self.n_cells, len(self.rack_names), len(self.zone_names)
            )
            if selector.match_labels:
                pair = selector.match_labels[0]
                hosts_of = self.vms_by_label.get(pair, {})
                self.selectors_by_label.setdefault(pair, []).append(selector)
            else:
                hosts_of = {v: p.host for v, p in self.vms.items()}
                self.match_all.append(selector)
            if len(selector.match_labels) != 1:
                hosts_of = {
                    v: h for v, h in hosts_of.items() if selector.matches(self.vms[v].vm.labels)
                }
            # Every VM indexed under a one-pair selector's pair matches it: no label checks.
            where = np.fromiter(hosts_of.values(), dtype=np.intp, count=len(hosts_of))
            np.add.at(dc.host, where, 1)
            np.add.at(dc.rack, self.rack_of[where], 1)
            np.add.at(dc.zone, self.zone_of[where], 1)
            for v in self.pinned.intersection(hosts_of):
                p = self.vms[v]
                for c, _, _ in p.cell_use:
                    dc.cell[p.host, c] += 1
            dc.total = len(hosts_of)
            self.counters[selector] = dc
        return dc

    def _evict(self, selector: LabelSelector) -> None:
        del self.counters[selector]
        if selector.match_labels:
            self.selectors_by_label[selector.match_labels[0]].remove(selector)
        else:
            self.match_all.remove(selector)

    def domain_counts(self, selector: LabelSelector, key: str) -> I32:
        dc = self.counts(selector)
        if key == TopologyKey.HOST:
            return dc.host
        if key == TopologyKey.RACK:
            return dc.rack
        if key == TopologyKey.ZONE:
            return dc.zone
        raise ValueError(f"no per-domain array for topology key {key!r}")

    # -- updates -----------------------------------------------------------------------------

    def free(self) -> I64:
        return self.free_t.T

    def choose_cells(
        self, vm: VMSpec, host: int, allowed: NDArray[np.bool_] | None = None
    ) -> tuple[tuple[int, int, int], ...] | None:
        """NUMA cells for `vm` on `host`: one cell if it fits (best fit), else the fewest cells
        by free CPU (PREFER only). None when a REQUIRE VM fits no single (allowed) cell."""
        if vm.numa == NumaPolicy.NONE:
            return ()
        d = vm.demand()
        free = self.cell_cap[host] - self.cell_used[host]
        valid = self.cell_valid[host] if allowed is None else self.cell_valid[host] & allowed
        fits = valid & (free[:, 0] >= d[CPU]) & (free[:, 1] >= d[MEM])
        if fits.any():
            slack = np.where(fits, free[:, 0] - d[CPU], np.iinfo(np.int64).max)
            c = int(np.argmin(slack))
            return ((c, d[CPU], d[MEM]),)
        if vm.numa == NumaPolicy.REQUIRE:
            return None
        order = np.argsort(-np.where(valid, free[:, 0], -1), kind="stable")
        need_cpu, need_mem = d[CPU], d[MEM]
        out: list[tuple[int, int, int]] = []
        for c in order:
            if not valid[c] or (need_cpu <= 0 and need_mem <= 0):
                break
            take_cpu = int(min(need_cpu, max(free[c, 0], 0)))
            take_mem = int(min(need_mem, max(free[c, 1], 0)))
            if take_cpu or take_mem:
                out.append((int(c), take_cpu, take_mem))
                need_cpu -= take_cpu
                need_mem -= take_mem
        # Whatever the cells cannot hold floats (host-level capacity was already checked).
        return tuple(out)

    def place(
        self,
        vm: VMSpec,
        host: int,
        cell_use: tuple[tuple[int, int, int], ...] = (),
        anti: tuple[tuple[LabelSelector, str], ...] = (),
    ) -> None:
        """Place `vm` on `host`; `anti` are its hard anti-affinity terms (symmetric.mirrored),
        kept so they also bind VMs placed after it."""
        if vm.vm_id in self.vms:
            raise ValueError(f"vm_id: {vm.vm_id!r} is already placed")
        p = PlacedVM(vm=vm, host=host, demand=vm.demand(), cell_use=cell_use)
        self._apply(p, 1)
        self.vms[vm.vm_id] = p
        self.declared.add(vm.vm_id, host, anti)
        if cell_use:
            self.pinned.add(vm.vm_id)
        for pair in vm.labels.items():
            self.vms_by_label.setdefault(pair, {})[vm.vm_id] = host

    def place_many(self, vms: Sequence[VMSpec], hosts: Sequence[int]) -> None:
        """Bulk load (e.g. at start-up from the inventory): one vectorised usage update.
        VMs that pin NUMA cells go through `place` so their cells are chosen."""
        ids = [v.vm_id for v in vms]
        if len(set(ids)) != len(ids) or any(i in self.vms for i in ids):
            raise ValueError("vm_id: duplicate or already placed ids in bulk load")
        floating = [(v, h) for v, h in zip(vms, hosts, strict=True) if v.numa == NumaPolicy.NONE]
        for v, h in zip(vms, hosts, strict=True):
            if v.numa != NumaPolicy.NONE:
                cells = self.choose_cells(v, int(h))
                self.place(v, int(h), cells or ())
        if not floating:
            return
        idx = np.fromiter((h for _, h in floating), dtype=np.intp, count=len(floating))
        dem = np.array([v.demand() for v, _ in floating], dtype=np.int64)
        np.add.at(self.used, idx, dem)
        self.free_t = np.ascontiguousarray((self.cap - self.used).T)
        self.util_t = (self.used[:, [CPU, MEM]].T * self.inv_cap_t).astype(np.float64)
        np.add.at(self.vm_count, idx, 1)
        for v, h in floating:
            p = PlacedVM(vm=v, host=int(h), demand=v.demand(), cell_use=())
            self.vms[v.vm_id] = p
            for sel in self._selectors_for(v):
                self._count(self.counters[sel], p, 1)
            for pair in v.labels.items():
                self.vms_by_label.setdefault(pair, {})[v.vm_id] = int(h)

    def remove(self, vm_id: str) -> PlacedVM:
        p = self.vms.pop(vm_id)
        self._apply(p, -1)
        self.declared.remove(vm_id, p.host)
        self.pinned.discard(vm_id)
        for pair in p.vm.labels.items():
            ids = self.vms_by_label[pair]
            del ids[vm_id]
            if not ids:
                del self.vms_by_label[pair]
        return p

    def _apply(self, p: PlacedVM, sign: int) -> None:
        h = p.host
        self.used[h] += sign * np.asarray(p.demand, dtype=np.int64)
        self.free_t[:, h] = self.cap[h] - self.used[h]
        self.util_t[:, h] = self.used[h, CPU : MEM + 1] * self.inv_cap_t[:, h]
        self.vm_count[p.host] += sign
        for c, cpu, mem in p.cell_use:
            self.cell_used[h, c, 0] += sign * cpu
            self.cell_used[h, c, 1] += sign * mem
            self.cell_free_t[:, c, h] = self.cell_cap[h, c] - self.cell_used[h, c]
        for sel in self._selectors_for(p.vm):
            self._count(self.counters[sel], p, sign)

    def _selectors_for(self, vm: VMSpec) -> list[LabelSelector]:
        out = list(self.match_all)
        for pair in vm.labels.items():
            for sel in self.selectors_by_label.get(pair, ()):
                if sel.matches(vm.labels):
                    out.append(sel)
        return out

    def _count(self, dc: DomainCounts, p: PlacedVM, sign: int) -> None:
        h = p.host
        dc.host[h] += sign
        dc.rack[self.rack_of[h]] += sign
        dc.zone[self.zone_of[h]] += sign
        for c, _, _ in p.cell_use:
            dc.cell[h, c] += sign
        dc.total += sign

    def set_cordoned(self, host_id: str, cordoned: bool) -> None:
        self.cordoned[self.index[host_id]] = cordoned

    def record_failure(self, host_id: str, amount: float = 1.0) -> None:
        self.failures[self.index[host_id]] += amount

    def decay_failures(self, factor: float) -> None:
        """Called periodically by the agent so old failures stop counting."""
        self.failures *= factor


def _intern(names: list[str]) -> tuple[list[str], I32]:
    table: dict[str, int] = {}
    codes = np.array([table.setdefault(n, len(table)) for n in names], dtype=np.int32)
    return list(table), codes


def _check_hosts(hosts: Sequence[Host], classes: Mapping[str, HostClass]) -> list[FieldError]:
    errors: list[FieldError] = []
    seen: set[str] = set()
    for i, h in enumerate(hosts):
        f = f"hosts[{i}]"
        if not h.host_id:
            errors.append(FieldError(f"{f}.host_id", "must not be empty"))
        if h.host_id in seen:
            errors.append(FieldError(f"{f}.host_id", f"duplicate host id {h.host_id!r}"))
        seen.add(h.host_id)
        for name in ("vcpus", "memory_mib", "net_mbps", "disk_gib", "iops", "gpus"):
            v = getattr(h, name)
            if not isinstance(v, int | float) or not np.isfinite(v) or v < 0:
                errors.append(FieldError(f"{f}.{name}", f"must be a finite number >= 0, got {v!r}"))
        if h.host_class not in classes:
            errors.append(FieldError(f"{f}.host_class", f"unknown host class {h.host_class!r}"))
        for c, cell in enumerate(h.numa_cells):
            if cell.vcpus < 0 or cell.memory_mib < 0:
                errors.append(FieldError(f"{f}.numa_cells[{c}]", "must not be negative"))
    for name, hc in classes.items():
        for r, ratio in hc.overcommit.items():
            if r not in RESOURCES:
                errors.append(
                    FieldError(f"host_classes.{name}.overcommit", f"unknown resource {r!r}")
                )
            elif not (0 < ratio <= 64):
                errors.append(
                    FieldError(
                        f"host_classes.{name}.overcommit.{r}", f"ratio {ratio} not in (0, 64]"
                    )
                )
        if hc.price_per_hour < 0:
            errors.append(FieldError(f"host_classes.{name}.price_per_hour", "must be >= 0"))
    return errors
