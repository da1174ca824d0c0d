"""Compiled shift/swap annealing for machine reassignment (numba, cached on disk).

The Python search in optimizer_roadef evaluates a few thousand moves per second; the
challenge's best entries made millions. Here one move (a process to another machine, or two
processes exchanging machines) is checked and scored in O(R + B + dependencies) on flat
arrays: every hard rule (capacity with transient holds, conflict, spread, dependencies) and
every cost term, the service-move maximum kept in O(1) with a histogram of per-service move
counts. The state lives in numpy arrays owned by `Kernel`, which the compiled function
mutates in place between calls; the caller slices the CPU budget into calls and sets each
call's temperature. Pure: arrays in, arrays out.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from numba import njit
from numpy.typing import NDArray

if TYPE_CHECKING:
    from novacron.placement.optimizer_roadef import Reassignment

I64 = NDArray[np.int64]


@njit(cache=True)  # type: ignore[misc]
def _mcost(
    m: int, usage: Any, cap: Any, safety: Any, lw: Any, bal: Any, req: Any, add: int, sub: int
) -> int:
    """Load + balance cost of machine m once process `add` joins and `sub` leaves (-1: none)."""
    n_r = usage.shape[1]
    c = 0
    for r in range(n_r):
        u = usage[m, r]
        if add >= 0:
            u += req[add, r]
        if sub >= 0:
            u -= req[sub, r]
        o = u - safety[m, r]
        if o > 0:
            c += lw[r] * o
    for b in range(bal.shape[0]):
        r1, r2, t, w = bal[b, 0], bal[b, 1], bal[b, 2], bal[b, 3]
        u1 = usage[m, r1]
        u2 = usage[m, r2]
        if add >= 0:
            u1 += req[add, r1]
            u2 += req[add, r2]
        if sub >= 0:
            u1 -= req[sub, r1]
            u2 -= req[sub, r2]
        v = t * (cap[m, r1] - u1) - (cap[m, r2] - u2)
        if v > 0:
            c += w * v
    return c


@njit(cache=True)  # type: ignore[misc]
def _fits(
    m: int, usage: Any, held: Any, cap: Any, trans: Any, req: Any, add: int, sub: int,
    add_home: bool, sub_home: bool,
) -> bool:
    """Capacity of machine m (transient holds included) once `add` arrives and `sub` leaves.
    add_home: m is add's initial machine (its hold there ends); sub_home: m is sub's initial
    machine (sub now holds its transient share here)."""
    for r in range(usage.shape[1]):
        u = usage[m, r]
        if add >= 0:
            u += req[add, r]
        if sub >= 0:
            u -= req[sub, r]
        if trans[r]:
            u += held[m, r]
            if add_home:
                u -= req[add, r]
            if sub_home:
                u += req[sub, r]
        if u > cap[m, r]:
            return False
    return True


@njit(cache=True)  # type: ignore[misc]
def _spread_ok(s: int, la: int, lb: int, in_loc: Any, n_locs: Any, spread_min: Any) -> bool:
    if la == lb:
        return True
    n = n_locs[s]
    if in_loc[s, la] == 1:
        n -= 1
    if in_loc[s, lb] == 0:
        n += 1
    return bool(n >= spread_min[s])


@njit(cache=True)  # type: ignore[misc]
def _deps_ok(
    s: int, na: int, nb: int, in_nbh: Any, dep_ptr: Any, dep_idx: Any, rdep_ptr: Any,
    rdep_idx: Any,
) -> bool:
    """One process of service s going from neighbourhood na to nb keeps every dependency."""
    if na == nb:
        return True
    if in_nbh[s, nb] == 0:
        for k in range(dep_ptr[s], dep_ptr[s + 1]):
            if in_nbh[dep_idx[k], nb] == 0:
                return False
    if in_nbh[s, na] == 1:
        for k in range(rdep_ptr[s], rdep_ptr[s + 1]):
            if in_nbh[rdep_idx[k], na] > 0:
                return False
    return True


@njit(cache=True)  # type: ignore[misc]
def _bump(s: int, d: int, moved: Any, hist: Any, mx: int) -> int:
    """Add d (-1, 0, +1) to service s's moved count; returns the new maximum count."""
    if d == 0:
        return mx
    c: int = moved[s]
    hist[c] -= 1
    hist[c + d] += 1
    moved[s] = c + d
    if c + d > mx:
        return c + d
    while mx > 0 and hist[mx] == 0:
        mx -= 1
    return mx


@njit(cache=True)  # type: ignore[misc]
def _apply(
    p: int, dst: int, assign: Any, usage: Any, held: Any, on_machine: Any, in_loc: Any,
    n_locs: Any, in_nbh: Any, moved: Any, hist: Any, mx: int, mcost: Any, service: Any,
    req: Any, initial: Any, loc: Any, nbh: Any, cap: Any, safety: Any, lw: Any, bal: Any,
) -> int:
    """Move p to dst, updating every counter; returns the new service-move maximum."""
    src = assign[p]
    home = initial[p]
    s = service[p]
    for r in range(usage.shape[1]):
        usage[src, r] -= req[p, r]
        usage[dst, r] += req[p, r]
        if src == home:
            held[home, r] += req[p, r]
        if dst == home:
            held[home, r] -= req[p, r]
    if src == home:
        mx = _bump(s, 1, moved, hist, mx)
    if dst == home:
        mx = _bump(s, -1, moved, hist, mx)
    on_machine[s, src] -= 1
    on_machine[s, dst] += 1
    la, lb = loc[src], loc[dst]
    in_loc[s, la] -= 1
    if in_loc[s, la] == 0:
        n_locs[s] -= 1
    if in_loc[s, lb] == 0:
        n_locs[s] += 1
    in_loc[s, lb] += 1
    in_nbh[s, nbh[src]] -= 1
    in_nbh[s, nbh[dst]] += 1
    assign[p] = dst
    mcost[src] = _mcost(src, usage, cap, safety, lw, bal, req, -1, -1)
    mcost[dst] = _mcost(dst, usage, cap, safety, lw, bal, req, -1, -1)
    return mx


@njit(cache=True)  # type: ignore[misc]
def _shift_delta(
    p: int, m: int, assign: Any, usage: Any, held: Any, on_machine: Any, in_loc: Any,
    n_locs: Any, in_nbh: Any, moved: Any, hist: Any, mx: int, mcost: Any, service: Any,
    req: Any, initial: Any, loc: Any, nbh: Any, cap: Any, safety: Any, lw: Any, bal: Any,
    trans: Any, spread_min: Any, dep_ptr: Any, dep_idx: Any, rdep_ptr: Any, rdep_idx: Any,
    pmc: Any, mmc: Any, w_p: int, w_s: int, w_m: int,
) -> tuple[bool, int]:
    src = assign[p]
    if m == src:
        return False, 0
    s = service[p]
    if on_machine[s, m] > 0:
        return False, 0
    home = initial[p]
    if not _fits(m, usage, held, cap, trans, req, p, -1, m == home, False):
        return False, 0
    if not _spread_ok(s, loc[src], loc[m], in_loc, n_locs, spread_min):
        return False, 0
    if not _deps_ok(s, nbh[src], nbh[m], in_nbh, dep_ptr, dep_idx, rdep_ptr, rdep_idx):
        return False, 0
    d = _mcost(src, usage, cap, safety, lw, bal, req, -1, p) - mcost[src]
    d += _mcost(m, usage, cap, safety, lw, bal, req, p, -1) - mcost[m]
    d += w_p * pmc[p] * ((1 if m != home else 0) - (1 if src != home else 0))
    d += w_m * (mmc[home, m] - mmc[home, src])
    dm = (1 if src == home else 0) - (1 if m == home else 0)
    if dm != 0:
        c = moved[s]
        if dm > 0:
            new = max(mx, c + 1)
        elif c == mx and hist[c] == 1:
            new = c - 1
        else:
            new = mx
        d += w_s * (new - mx)
    return True, d


@njit(cache=True)  # type: ignore[misc]
def _swap_delta(
    p: int, q: int, assign: Any, usage: Any, held: Any, on_machine: Any, in_loc: Any,
    n_locs: Any, in_nbh: Any, moved: Any, hist: Any, mx: int, mcost: Any, service: Any,
    req: Any, initial: Any, loc: Any, nbh: Any, cap: Any, safety: Any, lw: Any, bal: Any,
    trans: Any, spread_min: Any, dep_ptr: Any, dep_idx: Any, rdep_ptr: Any, rdep_idx: Any,
    pmc: Any, mmc: Any, w_p: int, w_s: int, w_m: int,
) -> tuple[bool, int]:
    a, b = assign[p], assign[q]
    sp, sq = service[p], service[q]
    if a == b or sp == sq:
        return False, 0
    if on_machine[sp, b] > 0 or on_machine[sq, a] > 0:
        return False, 0
    hp, hq = initial[p], initial[q]
    if not _fits(a, usage, held, cap, trans, req, q, p, a == hq, a == hp):
        return False, 0
    if not _fits(b, usage, held, cap, trans, req, p, q, b == hp, b == hq):
        return False, 0
    la, lb = loc[a], loc[b]
    if not _spread_ok(sp, la, lb, in_loc, n_locs, spread_min):
        return False, 0
    if not _spread_ok(sq, lb, la, in_loc, n_locs, spread_min):
        return False, 0
    na, nb = nbh[a], nbh[b]
    if na != nb:
        # p first, then q on the counters p left (conservative: the state in between must
        # be valid too, which implies the end state is).
        if not _deps_ok(sp, na, nb, in_nbh, dep_ptr, dep_idx, rdep_ptr, rdep_idx):
            return False, 0
        in_nbh[sp, na] -= 1
        in_nbh[sp, nb] += 1
        ok = _deps_ok(sq, nb, na, in_nbh, dep_ptr, dep_idx, rdep_ptr, rdep_idx)
        in_nbh[sp, na] += 1
        in_nbh[sp, nb] -= 1
        if not ok:
            return False, 0
    d = _mcost(a, usage, cap, safety, lw, bal, req, q, p) - mcost[a]
    d += _mcost(b, usage, cap, safety, lw, bal, req, p, q) - mcost[b]
    dp = (1 if a == hp else 0) - (1 if b == hp else 0)  # +1: p leaves home, -1: returns
    dq = (1 if b == hq else 0) - (1 if a == hq else 0)
    d += w_p * (dp * pmc[p] + dq * pmc[q])
    d += w_m * (mmc[hp, b] - mmc[hp, a] + mmc[hq, a] - mmc[hq, b])
    if dp != 0 or dq != 0:
        m1 = _bump(sp, dp, moved, hist, mx)
        m2 = _bump(sq, dq, moved, hist, m1)
        d += w_s * (m2 - mx)
        m3 = _bump(sq, -dq, moved, hist, m2)
        _bump(sp, -dp, moved, hist, m3)
    return True, d


@njit(cache=True)  # type: ignore[misc]
def _anneal(
    n_iters: int, temp: float, temp_end: float, swap_share: float, seed: int, cur: int,
    best: int, best_assign: Any, assign: Any, usage: Any, held: Any, on_machine: Any,
    in_loc: Any, n_locs: Any, in_nbh: Any, moved: Any, hist: Any, mx0: int, mcost: Any,
    service: Any, req: Any, initial: Any, loc: Any, nbh: Any, cap: Any, safety: Any, lw: Any,
    bal: Any, trans: Any, spread_min: Any, dep_ptr: Any, dep_idx: Any, rdep_ptr: Any,
    rdep_idx: Any, pmc: Any, mmc: Any, w_p: int, w_s: int, w_m: int, out: Any,
) -> None:
    """n_iters random shift or swap proposals, Metropolis-accepted at a temperature falling
    geometrically from temp to temp_end. out <- [cur, best, service max, tried, made]."""
    np.random.seed(seed)
    n_p = assign.shape[0]
    n_m = usage.shape[0]
    mx = mx0
    made = 0
    ratio = temp_end / temp if temp > 0 else 1.0
    for it in range(n_iters):
        t = temp * ratio ** (it / n_iters)
        p = np.random.randint(n_p)
        if np.random.random() < swap_share:
            q = np.random.randint(n_p)
            ok, d = _swap_delta(
                p, q, assign, usage, held, on_machine, in_loc, n_locs, in_nbh, moved, hist, mx,
                mcost, service, req, initial, loc, nbh, cap, safety, lw, bal, trans,
                spread_min, dep_ptr, dep_idx, rdep_ptr, rdep_idx, pmc, mmc, w_p, w_s, w_m,
            )
            if not ok:
                continue
            if d > 0 and (t <= 0 or np.random.random() >= math.exp(-d / t)):
                continue
            a, b = assign[p], assign[q]
            mx = _apply(
                p, b, assign, usage, held, on_machine, in_loc, n_locs, in_nbh, moved, hist,
                mx, mcost, service, req, initial, loc, nbh, cap, safety, lw, bal,
            )
            mx = _apply(
                q, a, assign, usage, held, on_machine, in_loc, n_locs, in_nbh, moved, hist,
                mx, mcost, service, req, initial, loc, nbh, cap, safety, lw, bal,
            )
        else:
            m = np.random.randint(n_m)
            ok, d = _shift_delta(
                p, m, assign, usage, held, on_machine, in_loc, n_locs, in_nbh, moved, hist, mx,
                mcost, service, req, initial, loc, nbh, cap, safety, lw, bal, trans,
                spread_min, dep_ptr, dep_idx, rdep_ptr, rdep_idx, pmc, mmc, w_p, w_s, w_m,
            )
            if not ok:
                continue
            if d > 0 and (t <= 0 or np.random.random() >= math.exp(-d / t)):
                continue
            mx = _apply(
                p, m, assign, usage, held, on_machine, in_loc, n_locs, in_nbh, moved, hist,
                mx, mcost, service, req, initial, loc, nbh, cap, safety, lw, bal,
            )
        made += 1
        cur += d
        if cur < best:
            best = cur
            for i in range(n_p):
                best_assign[i] = assign[i]
    out[0] = cur
    out[1] = best
    out[2] = mx
    out[3] = n_iters
    out[4] = made


def _csr(lists: list[list[int]], n: int) -> tuple[I64, I64]:
    ptr = np.zeros(n + 1, dtype=np.int64)
    for i, xs in enumerate(lists):
        ptr[i + 1] = ptr[i] + len(xs)
    idx = np.array([x for xs in lists for x in xs], dtype=np.int64)
    return ptr, idx


class Kernel:
    """The compiled search's state for one problem, started from an assignment."""

    def __init__(self, pb: Reassignment, assign: I64) -> None:
        self.pb = pb
        n_m, n_r = pb.capacity.shape
        n_s = len(pb.spread_min)
        n_n = int(pb.neighborhood.max()) + 1
        n_l = int(pb.location.max()) + 1
        self.req = np.ascontiguousarray(pb.requirement, dtype=np.int64)
        self.cap = np.ascontiguousarray(pb.capacity, dtype=np.int64)
        self.safety = np.ascontiguousarray(pb.safety, dtype=np.int64)
        self.lw = np.ascontiguousarray(pb.load_weight, dtype=np.int64)
        self.bal = np.array(pb.balances, dtype=np.int64).reshape(-1, 4)
        self.trans = np.ascontiguousarray(pb.transient, dtype=np.bool_)
        self.mmc = np.ascontiguousarray(pb.machine_move_cost, dtype=np.int64)
        self.pmc = np.ascontiguousarray(pb.process_move_cost, dtype=np.int64)
        self.service = np.ascontiguousarray(pb.service, dtype=np.int64)
        self.initial = np.ascontiguousarray(pb.initial, dtype=np.int64)
        self.loc = np.ascontiguousarray(pb.location, dtype=np.int64)
        self.nbh = np.ascontiguousarray(pb.neighborhood, dtype=np.int64)
        self.spread_min = np.ascontiguousarray(pb.spread_min, dtype=np.int64)
        self.dep_ptr, self.dep_idx = _csr(pb.deps, n_s)
        rdeps: list[list[int]] = [[] for _ in range(n_s)]
        for s, ds in enumerate(pb.deps):
            for d in ds:
                rdeps[d].append(s)
        self.rdep_ptr, self.rdep_idx = _csr(rdeps, n_s)
        a = np.ascontiguousarray(assign, dtype=np.int64).copy()
        self.assign = a
        self.usage = np.zeros((n_m, n_r), dtype=np.int64)
        np.add.at(self.usage, a, self.req)
        self.held = np.zeros((n_m, n_r), dtype=np.int64)
        away = a != self.initial
        np.add.at(self.held, self.initial[away], self.req[away])
        self.on_machine = np.zeros((n_s, n_m), dtype=np.int64)
        np.add.at(self.on_machine, (self.service, a), 1)
        self.in_loc = np.zeros((n_s, n_l), dtype=np.int64)
        np.add.at(self.in_loc, (self.service, self.loc[a]), 1)
        self.n_locs = (self.in_loc > 0).sum(axis=1).astype(np.int64)
        self.in_nbh = np.zeros((n_s, n_n), dtype=np.int64)
        np.add.at(self.in_nbh, (self.service, self.nbh[a]), 1)
        self.moved = np.zeros(n_s, dtype=np.int64)
        np.add.at(self.moved, self.service[away], 1)
        self.hist = np.bincount(self.moved, minlength=len(self.service) + 2).astype(np.int64)
        self.mx = int(self.moved.max(initial=0))
        self.mcost = np.array(
            [
                _mcost(m, self.usage, self.cap, self.safety, self.lw, self.bal, self.req, -1, -1)
                for m in range(n_m)
            ],
            dtype=np.int64,
        )
        self.cur = self.total()
        self.best = self.cur
        self.best_assign = a.copy()
        self.tried = 0
        self.made = 0

    def total(self) -> int:
        pb = self.pb
        away = self.assign != self.initial
        return (
            int(self.mcost.sum())
            + pb.w_process * int(self.pmc[away].sum())
            + pb.w_service * self.mx
            + pb.w_machine * int(self.mmc[self.initial, self.assign].sum())
        )

    def shift_delta(self, p: int, m: int) -> int | None:
        """Objective change of moving p to m, or None if a hard rule forbids it."""
        ok, d = _shift_delta(p, m, *self._state(), *self._static())
        return int(d) if ok else None

    def swap_delta(self, p: int, q: int) -> int | None:
        ok, d = _swap_delta(p, q, *self._state(), *self._static())
        return int(d) if ok else None

    def apply(self, p: int, m: int) -> None:
        d = self.shift_delta(p, m)
        if d is None:
            raise ValueError(f"move of {p} to {m} is infeasible")
        self.mx = int(
            _apply(
                p, m, self.assign, self.usage, self.held, self.on_machine, self.in_loc,
                self.n_locs, self.in_nbh, self.moved, self.hist, self.mx, self.mcost,
                self.service, self.req, self.initial, self.loc, self.nbh, self.cap,
                self.safety, self.lw, self.bal,
            )
        )
        self.cur += d
        if self.cur < self.best:
            self.best = self.cur
            self.best_assign[:] = self.assign

    def anneal(
        self, n_iters: int, temp: float, temp_end: float, swap_share: float, seed: int
    ) -> None:
        """n_iters proposals (see _anneal); keeps the best assignment seen in best_assign."""
        out = np.zeros(5, dtype=np.int64)
        run: Any = _anneal  # a numba Dispatcher: its stub does not know the signature
        run(
            n_iters, temp, temp_end, swap_share, seed, self.cur, self.best, self.best_assign,
            *self._state(), *self._static(), out,
        )
        self.cur, self.best, self.mx = int(out[0]), int(out[1]), int(out[2])
        self.tried += int(out[3])
        self.made += int(out[4])

    def _state(self) -> tuple[Any, ...]:
        return (
            self.assign, self.usage, self.held, self.on_machine, self.in_loc, self.n_locs,
            self.in_nbh, self.moved, self.hist, self.mx, self.mcost,
        )

    def _static(self) -> tuple[Any, ...]:
        pb = self.pb
        return (
            self.service, self.req, self.initial, self.loc, self.nbh, self.cap, self.safety,
            self.lw, self.bal, self.trans, self.spread_min, self.dep_ptr, self.dep_idx,
            self.rdep_ptr, self.rdep_idx, self.pmc, self.mmc, pb.w_process, pb.w_service,
            pb.w_machine,
        )
