"""Chaos against real QEMU guests under qemu:///session (software emulation, no KVM): kill a
guest's QEMU process (SIGKILL) or pause it, detect it from libvirt's real lifecycle events and
liveness silence, decide with the Healer and recover with the actuators (restart: a new QEMU
process; a paused guest is power-cycled), checked on libvirt.

The same harness as bench.chaos_libvirt (one clock: crashes in real time, the 15 s paused
threshold fast-forwarded), on one session host: host faults and moves need a second host,
which bench.chaos_libvirt covers on test-driver hosts. Guests are diskless (SeaBIOS looking
for a boot device): a real QEMU process, not a booted OS, so "recovered" means the QEMU guest
runs again, not that an application inside answers.

Run: python -m bench.chaos_qemu [--quick] [--seed N]
"""

from __future__ import annotations

import argparse
import os
import signal
import time

import libvirt
from novacron.actuators.connection import ActuatorError, Fleet
from novacron.actuators.qemu_session import SessionDaemon, define_guests, remove_guests

from bench._common import write_results
from bench.chaos_libvirt import Bench, Fault, summary

HOST = "qemu-session"


class QemuBench(Bench):
    def __init__(self, daemon: SessionDaemon, fleet: Fleet, seed: int) -> None:
        self.daemon = daemon
        self.pids_at_fault: dict[str, int | None] = {}
        super().__init__(fleet, seed)

    def inject(self, kind: str) -> Fault:
        before = {vm: self.daemon.qemu_pid(vm) for vm in self.running()}
        f = super().inject(kind)
        self.pids_at_fault = {vm: before.get(vm) for vm in f.vms}
        return f

    def recovered(self, f: Fault) -> bool:
        """Running again as a new QEMU process: right after a kill, libvirt still reads the
        old one as running until it notices its monitor closed (about a second)."""
        if not super().recovered(f):
            return False
        try:
            return all(self.daemon.qemu_pid(vm) != self.pids_at_fault.get(vm) for vm in f.vms)
        except ActuatorError:
            return False  # between the old pid file going and the new one appearing

    def crash(self, dom: libvirt.virDomain) -> None:
        """A real crash: SIGKILL the guest's QEMU process; libvirt sees its monitor go and
        reports the domain stopped (failed), which the healer reads as a crash."""
        os.kill(self.daemon.qemu_pid(dom.name()), signal.SIGKILL)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="8 faults on 3 guests")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    guests, n = (3, 8) if args.quick else (4, 24)
    names = [f"nc-chaos-{i}" for i in range(guests)]
    kinds = ["vm_crash", "vm_crash", "vm_crash", "vm_pause"]
    started = time.perf_counter()
    faults: list[Fault] = []
    with SessionDaemon() as daemon:
        fleet = daemon.fleet(HOST)
        try:
            boot = time.perf_counter()
            define_guests(fleet, HOST, names)
            boot_s = (time.perf_counter() - boot) / guests
            bench = QemuBench(daemon, fleet, args.seed)
            try:
                for i in range(n):
                    faults.append(bench.run_fault(kinds[i % len(kinds)]))
            finally:
                bench.watcher.stop()
        finally:
            remove_guests(fleet, HOST, names)
            fleet.close()
    figures: dict[str, object] = {
        "variant": "real QEMU guests (TCG) under a qemu:///session libvirtd",
        "hosts": 1, "vms": guests, "guest_start_s": round(boot_s, 2),
        **summary(bench, faults, guests),
        "wall_s": round(time.perf_counter() - started, 1),
        "quick": args.quick,
    }
    path = write_results("chaos_qemu", figures)
    for k, v in figures.items():
        print(f"{k}: {v}")
    print(f"wrote {path}")
    print(f"chaos_qemu: {len(faults)} faults on {guests} real QEMU guests, crash detect p95 "
          f"{figures['vm_crash_detect_p95_s']} s, crash recovery p95 "
          f"{figures['vm_crash_recovery_p95_s']} s, hang detect p95 "
          f"{figures['vm_hang_detect_p95_s']} s, hang recovery p95 "
          f"{figures['vm_hang_recovery_p95_s']} s, autonomous "
          f"{figures['autonomous_recovery_pct']} %, double running "
          f"{figures['double_running_vms']}")


if __name__ == "__main__":
    main()
