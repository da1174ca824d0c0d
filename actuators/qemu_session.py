"""Real QEMU guests under qemu:///session (software emulation), for chaos runs and tests.

qemu:///session is libvirt's unprivileged per-user daemon: QEMU runs as that user with TCG
(no /dev/kvm needed), which is what works on a CI runner or a laptop. As root, libvirt maps
qemu:///session to the privileged system daemon instead, so there the session daemon is run
as an unprivileged user (``nobody``) with its own runtime directory, and we connect to its
socket explicitly (``qemu+unix:///session?socket=...``): root may open any user's socket.

The guests are diskless: they sit in SeaBIOS looking for a boot device, which is a real QEMU
process with a real lifecycle (start, crash, pause, reset), at 32 MiB and about a second to
start. Nothing here is needed in production, where hosts run qemu:///system.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import libvirt
from novacron.actuators.connection import ActuatorError, Fleet, HostConnection
from novacron.actuators.xml import DomainSpec, domain_xml

LIBVIRTD = "/usr/sbin/libvirtd"
# libvirtd's parent here: a child subreaper that reaps at once what it inherits. QEMU is
# daemonized, so a dead guest's process is reparented to the nearest subreaper, else to
# PID 1; libvirt reports the guest stopped only once that zombie is reaped. On a host,
# systemd reaps at once; a container's PID 1 may not (this machine's took 1-2 s, which
# libvirt's lifecycle event then waited for). This stands in for the host's init.
_REAPER = """
import ctypes, os, signal, subprocess, sys
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
child = subprocess.Popen(sys.argv[1:])
signal.signal(signal.SIGTERM, lambda *_: child.poll() is None and child.terminate())
while True:
    try:
        pid, _ = os.waitpid(-1, 0)
    except ChildProcessError:
        break
    if pid == child.pid:
        break
"""
EMULATOR = "/usr/bin/qemu-system-x86_64"
UNPRIVILEGED_USER = "nobody"


def guest_spec(name: str, host_id: str) -> DomainSpec:
    """A tiny diskless guest: a real QEMU process at the smallest memory SeaBIOS needs."""
    return DomainSpec(name=name, vcpus=1, max_vcpus=1, memory_mib=32, max_memory_mib=32,
                      labels={"host": host_id, "app": "chaos-qemu"})


class SessionDaemon:
    """A private libvirt session daemon for the life of this object (``with`` it).

    ``uri`` is what a :class:`HostConnection` opens. The daemon is ours: ``close()`` stops
    exactly the process we started (QEMU guests survive libvirtd by design, so callers
    destroy their guests first).
    """

    def __init__(self, root: Path | None = None, start_timeout_s: float = 20.0) -> None:
        for binary in (LIBVIRTD, EMULATOR):
            if not os.access(binary, os.X_OK):
                raise ActuatorError(f"{binary} is missing: install the Debian packages "
                                    "libvirt-daemon, libvirt-daemon-driver-qemu and "
                                    "qemu-system-x86 (scripts/setup does)")
        self._own_root = root is None
        self.root = root or Path(tempfile.mkdtemp(prefix="novacron-qemu-session-"))
        self.timeout_s = start_timeout_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.uri = "qemu:///session"
        self.runtime = Path(os.environ.get("XDG_RUNTIME_DIR", f"/run/user/{os.getuid()}"))
        if os.geteuid() == 0:
            self._start_as(UNPRIVILEGED_USER)

    def _start_as(self, user: str) -> None:
        pw = pwd.getpwnam(user)
        home, run = self.root / "home", self.root / "run"
        for d in (home, run):
            d.mkdir(parents=True, exist_ok=True)
        for d in (self.root, home, run):
            os.chown(d, pw.pw_uid, pw.pw_gid)
        run.chmod(0o700)
        self.runtime = run
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(home),
               "XDG_RUNTIME_DIR": str(run), "XDG_CONFIG_HOME": str(home / ".config"),
               "XDG_CACHE_HOME": str(home / ".cache")}
        log = (self.root / "libvirtd.log").open("wb")
        # setpriv drops to the user without a login shell (nobody has none); fixed argv.
        self.proc = subprocess.Popen(
            ["/usr/bin/setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}",
             "--clear-groups", sys.executable, "-c", _REAPER, LIBVIRTD, "--timeout", "0"],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.root)
        log.close()
        sock = run / "libvirt" / "libvirt-sock"
        deadline = time.monotonic() + self.timeout_s
        while not sock.exists():  # probe, don't sleep a guess
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = (self.root / "libvirtd.log").read_text(errors="replace")[-800:]
                self.close()
                raise ActuatorError(f"libvirt session daemon did not come up: {tail}")
            time.sleep(0.05)
        self.uri = f"qemu+unix:///session?socket={sock}"

    def qemu_pid(self, name: str) -> int:
        """The pid of a running guest's QEMU process (libvirt's pid file for it)."""
        path = self.runtime / "libvirt" / "qemu" / "run" / f"{name}.pid"
        try:
            return int(path.read_text().strip())
        except (OSError, ValueError) as exc:
            raise ActuatorError(f"{name}: no QEMU pid at {path}: {exc}") from exc

    def fleet(self, host_id: str = "qemu-session") -> Fleet:
        return Fleet([HostConnection(host_id, self.uri, {"zone": "zone-a", "rack": "rack-0"})])

    def close(self) -> None:
        # The daemon spawned its log daemon (it would exit on its own after 2 idle minutes);
        # stopped first, while our reaper is still there to reap it.
        with contextlib.suppress(OSError, ValueError, ProcessLookupError):
            pidfile = self.runtime / "libvirt" / "virtlogd.pid"
            if self.proc is not None and pidfile.exists():
                os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        if self._own_root:
            with contextlib.suppress(OSError):
                shutil.rmtree(self.root)

    def __enter__(self) -> SessionDaemon:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def define_guests(fleet: Fleet, host_id: str, names: list[str], *, start: bool = True) -> None:
    """Define (and boot) diskless guests on ``host_id``, built from validated specs."""
    conn = fleet.host(host_id).get()
    for name in names:
        spec = guest_spec(name, host_id)
        dom = conn.defineXML(domain_xml(spec, "qemu"))
        fleet.specs[name] = spec
        if start and not dom.isActive():
            dom.create()


def remove_guests(fleet: Fleet, host_id: str, names: list[str]) -> None:
    """Destroy and undefine; a guest already gone is fine (cleanup must not fail halfway)."""
    conn = fleet.host(host_id).get()
    for name in names:
        with contextlib.suppress(libvirt.libvirtError):
            dom = conn.lookupByName(name)
            if dom.isActive():
                dom.destroy()
            dom.undefine()
