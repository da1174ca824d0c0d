"""Several independent libvirt hosts on one machine, for tests and benches of what needs more
than one host: live migration, consolidation, host-crash fencing.

Each host is a system-mode libvirtd in a private mount namespace: per-host directories are
bind-mounted over /etc/libvirt, /run/libvirt, /var/lib/libvirt, /var/log/libvirt and
/var/cache/libvirt, so every host has its own configuration, state, guests and host UUID
(libvirt refuses to migrate to "the same host" by UUID only). Every process of a host, its
daemon and its QEMU guests, lives in that namespace: killing them all is a clean host crash,
and finding none is the proof that the host is off. System mode rather than session daemons
(which migrate too): it is the driver production runs, with its paths and its re-adoption of
guests on restart, and the namespace names a host's processes even after QEMU daemonizes
away from its parent, where session daemons of one user would have only ancestry to go by.

A subreaper stands in for the host's init (it reaps each dead QEMU at once; this machine's
PID 1 may not, and libvirt reports a guest stopped only once its process is reaped). It dies
with the thread that started it, taking its host down, so a killed test run leaves nothing.
Nothing here is needed in production, where each host runs its own qemu:///system.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import libvirt
import yaml
from novacron.actuators.connection import ActuatorError, Fleet, HostConnection
from novacron.actuators.placement_state import domain_type
from novacron.actuators.xml import DomainSpec, domain_xml

LIBVIRTD = "/usr/sbin/libvirtd"
EMULATOR = "/usr/bin/qemu-system-x86_64"
# System-mode libvirtd refuses to start without this user, even when qemu.conf says root.
QEMU_USER = "libvirt-qemu"
# per-host directory name -> the system path it is mounted over inside the host
SYSTEM_DIRS = {"etc": "/etc/libvirt", "run": "/run/libvirt", "lib": "/var/lib/libvirt",
               "log": "/var/log/libvirt", "cache": "/var/cache/libvirt"}
CAPS_IN_HOST = "/var/cache/libvirt/qemu/capabilities"
# QEMU's capability probe (~4 s per fresh host) is cached by the binary's identity (its
# ctime, libvirt's version, the kernel and CPU), all the same for every host of one machine,
# and libvirt re-probes a stale entry, so the hosts share one cache that outlives runs.
DEFAULT_CAPS_DIR = Path("/var/cache/novacron/qemu-capabilities")
MIGRATION_PORT_BASE = 49400
MIGRATION_PORTS_PER_HOST = 20

# Mounts the host's directories, then becomes its libvirtd. Paths come as arguments, never
# spliced into the script.
_MOUNT_AND_EXEC = """
set -e
root=$1; caps=$2
mount --bind "$root/etc" /etc/libvirt
mount --bind "$root/run" /run/libvirt
mount --bind "$root/lib" /var/lib/libvirt
mount --bind "$root/log" /var/log/libvirt
mount --bind "$root/cache" /var/cache/libvirt
mount --bind "$caps" /var/cache/libvirt/qemu/capabilities
exec /usr/sbin/libvirtd -f /etc/libvirt/libvirtd.conf -p /run/libvirt/libvirtd.pid
"""

# The host's init: a child subreaper that reaps every orphan (daemonized QEMU) at once and
# exits when the host has no process left. When the thread that started it dies (a killed
# test run), it kills its host: every process in the daemon's mount namespace.
_REAPER = """
import ctypes, os, signal, subprocess, sys
libc = ctypes.CDLL(None)
libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
child = subprocess.Popen(sys.argv[1:])
def _ns(pid):
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None
def _host_down(*_):
    ns = _ns(child.pid)
    if ns is None or ns == _ns(os.getpid()):
        return
    for name in os.listdir("/proc"):
        if name.isdigit() and _ns(name) == ns:
            try:
                os.kill(int(name), signal.SIGKILL)
            except OSError:
                pass
signal.signal(signal.SIGTERM, _host_down)
while True:
    try:
        os.waitpid(-1, 0)
    except ChildProcessError:
        break
    except InterruptedError:
        continue
"""


def tiny_guest(name: str, host_id: str = "", memory_mib: int = 64) -> DomainSpec:
    """A diskless guest: SeaBIOS looking for a boot device is a real QEMU process with a real
    lifecycle and real memory to migrate, started in a fraction of a second."""
    labels = {"app": "local-hosts"}
    if host_id:
        labels["host"] = host_id
    return DomainSpec(name=name, vcpus=1, max_vcpus=1, memory_mib=memory_mib,
                      max_memory_mib=memory_mib, labels=labels)


def ensure_qemu_user() -> None:
    """Create the system user libvirtd insists on (as its package's set-up would); safe to
    repeat."""
    with contextlib.suppress(KeyError):
        pwd.getpwnam(QEMU_USER)
        return
    try:
        grp.getgrnam(QEMU_USER)
    except KeyError:
        subprocess.run(["groupadd", "-r", QEMU_USER], check=True)
    subprocess.run(["useradd", "-r", "-g", QEMU_USER, "-d", "/var/lib/libvirt", "-s",
                    "/usr/sbin/nologin", "-c", "libvirt QEMU", QEMU_USER], check=True)


def _mnt_ns(pid: int | str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:  # gone, a zombie, or not ours to read
        return None


def _private_dir(path: Path) -> Path:
    """A directory only root may write: libvirtd (root) trusts what it reads from it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o755)
    st = path.stat()
    if st.st_uid != 0 or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ActuatorError(f"{path} must be owned by root and writable by root only "
                            "(libvirtd reads QEMU capabilities from it)")
    return path


class LocalHost:
    """One host: a libvirtd in its own mount namespace and the QEMU guests it starts."""

    def __init__(self, host_id: str, root: Path, index: int, caps_dir: Path,
                 rack: str, zone: str, timeout_s: float) -> None:
        self.id = host_id
        self.root = root
        self.index = index
        self.caps_dir = caps_dir
        self.rack, self.zone = rack, zone
        self.timeout_s = timeout_s
        self.uuid = str(uuid.uuid4())
        self.socket = root / "run" / "libvirt-sock"
        self.uri = f"qemu+unix:///system?socket={self.socket}"
        self.migration_ports = (MIGRATION_PORT_BASE + index * MIGRATION_PORTS_PER_HOST,
                                MIGRATION_PORT_BASE + (index + 1) * MIGRATION_PORTS_PER_HOST - 1)
        self.daemon_pid: int | None = None
        self.namespace: str | None = None
        self._namespaces: set[str] = set()  # every one it had: a restart makes a new one
        self._reaper: subprocess.Popen[bytes] | None = None
        self._write_config()

    # ------------------------------------------------------------------ set-up

    def _write_config(self) -> None:
        for d in SYSTEM_DIRS:
            (self.root / d).mkdir(parents=True, exist_ok=True)
        (self.root / "cache" / "qemu" / "capabilities").mkdir(parents=True, exist_ok=True)
        (self.root / "etc" / "libvirtd.conf").write_text(
            f'host_uuid = "{self.uuid}"\n'
            'auth_unix_rw = "none"\nauth_unix_ro = "none"\n'
            'unix_sock_group = "root"\nunix_sock_rw_perms = "0700"\n'
            "listen_tcp = 0\nlisten_tls = 0\n"
            "keepalive_interval = 5\nkeepalive_count = 3\n")
        lo, hi = self.migration_ports
        (self.root / "etc" / "qemu.conf").write_text(
            # stdio to files: no virtlogd per host; root, no security driver, no namespaces
            # and no cgroups: the namespace and the subreaper are the whole host.
            'stdio_handler = "file"\nsecurity_driver = "none"\n'
            'user = "root"\ngroup = "root"\nnamespaces = [ ]\ncgroup_controllers = [ ]\n'
            f"migration_port_min = {lo}\nmigration_port_max = {hi}\n")

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the daemon and wait until it answers on its socket."""
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        """Start the daemon; :meth:`wait_ready` waits for it."""
        if self.running() or self._reaper is not None:
            return
        for stale in self.socket.parent.glob("libvirt*-sock*"):
            stale.unlink()  # a crashed daemon's sockets: the new one must be what we probe
        log = (self.root / "libvirtd.log").open("ab")
        try:
            self._reaper = subprocess.Popen(
                [sys.executable, "-c", _REAPER, "unshare", "-m", "--propagation", "private",
                 "/bin/sh", "-c", _MOUNT_AND_EXEC, "sh", str(self.root), str(self.caps_dir)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.root, start_new_session=True)
        finally:
            log.close()

    def wait_ready(self) -> None:
        """Until the daemon answers and its drivers are up (its first capabilities call
        waits for them: ~1.3 s here, node devices and the QEMU capabilities)."""
        if self._reaper is None:
            raise ActuatorError(f"host {self.id}: not started")
        deadline = time.monotonic() + self.timeout_s
        while True:
            if self._reaper.poll() is not None or time.monotonic() > deadline:
                tail = (self.root / "libvirtd.log").read_text(errors="replace")[-1200:]
                self.crash()
                raise ActuatorError(f"host {self.id}: libvirtd did not come up: {tail}")
            if self.socket.exists() and self._answers(capabilities=True):
                break
            time.sleep(0.05)  # probing, not guessing: the socket appears in ~0.15 s
        pid = int((self.root / "run" / "libvirtd.pid").read_text().strip())
        self.daemon_pid, self.namespace = pid, _mnt_ns(pid)
        if self.namespace is None or self.namespace == _mnt_ns(os.getpid()):
            self.crash()
            raise ActuatorError(f"host {self.id}: libvirtd is not in a private mount namespace")
        self._namespaces.add(self.namespace)

    def _answers(self, capabilities: bool = False) -> bool:
        try:
            conn = libvirt.open(self.uri)
        except libvirt.libvirtError:
            return False
        try:
            if capabilities:
                conn.getCapabilities()
        except libvirt.libvirtError:
            return False
        finally:
            with contextlib.suppress(libvirt.libvirtError):
                conn.close()
        return True

    def running(self) -> bool:
        return self.daemon_pid is not None and _mnt_ns(self.daemon_pid) == self.namespace

    def processes(self) -> list[int]:
        """Every live process of this host (daemon and QEMU guests), by mount namespace."""
        if not self._namespaces:
            return []
        own = _mnt_ns(os.getpid())
        out = []
        for name in os.listdir("/proc"):
            if name.isdigit():
                ns = _mnt_ns(name)
                if ns is not None and ns != own and ns in self._namespaces:
                    out.append(int(name))
        return out

    def qemu_pids(self) -> list[int]:
        return [p for p in self.processes() if p != self.daemon_pid]

    def crash(self) -> float:
        """SIGKILL the daemon and every QEMU of this host at once, as a power loss would.
        Returns the time (time.monotonic) of the kill. Safe to repeat."""
        at = time.monotonic()
        for _ in range(100):  # a process may fork while we kill: until none is left
            pids = self.processes()
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)
        if self._reaper is not None:
            try:
                self._reaper.wait(10)
            except subprocess.TimeoutExpired:  # it still has children: ours to end
                os.killpg(self._reaper.pid, signal.SIGKILL)
                self._reaper.wait(5)
            self._reaper = None
        self.daemon_pid = None
        return at

    def off(self) -> tuple[bool, str]:
        """(proven off, how): the daemon is dead and no process of the host is left."""
        left = self.processes()
        if left:
            return False, f"{len(left)} process(es) of {self.id} still alive: {sorted(left)[:5]}"
        if self._answers():
            return False, f"{self.id}'s libvirtd still answers on {self.socket}"
        return True, (f"{self.id} off: no process left in its mount namespace(s) "
                      f"{sorted(self._namespaces)}, its libvirtd does not answer")

    def restart(self) -> None:
        """The daemon back after a crash (or stop): it lists its guests, shut off."""
        self.crash()
        self.start()

    def stop(self) -> None:
        """The host off: its guests and its daemon killed."""
        self.crash()


class LocalHosts:
    """``count`` independent hosts on this machine (``with`` it): ``hosts[i].id``, ``.uri``,
    ``crash()``, ``restart()``, ``stop()``; ``fleet()`` connects to all of them."""

    def __init__(self, count: int, root: Path | None = None, *, prefix: str = "local",
                 zone: str | None = None, caps_dir: Path | None = None,
                 start_timeout_s: float = 20.0) -> None:
        if count < 1:
            raise ValueError("count must be at least 1")
        if os.geteuid() != 0:
            raise ActuatorError("LocalHosts runs system-mode libvirtd daemons: run as root")
        for binary in (LIBVIRTD, EMULATOR, "/usr/bin/unshare"):
            if not os.access(binary, os.X_OK):
                raise ActuatorError(f"{binary} is missing: install the Debian packages "
                                    "libvirt-daemon, libvirt-daemon-driver-qemu, qemu-system-x86 "
                                    "and util-linux (scripts/setup does)")
        ensure_qemu_user()
        for path in SYSTEM_DIRS.values():  # mount points (the packages normally create them)
            Path(path).mkdir(parents=True, exist_ok=True)
        self._own_root = root is None
        self.root = root or Path(tempfile.mkdtemp(prefix="novacron-local-hosts-"))
        self.caps_dir = _private_dir(caps_dir or DEFAULT_CAPS_DIR)
        self.hosts: list[LocalHost] = [
            LocalHost(f"{prefix}-{i + 1}", self.root / f"{prefix}-{i + 1}", i, self.caps_dir,
                      rack=f"rack-{i + 1}", zone=zone or f"zone-{i + 1}",
                      timeout_s=start_timeout_s)
            for i in range(count)]
        try:
            if not any(self.caps_dir.glob("*.xml")):
                # A cold cache: one host probes QEMU and writes it, then the others read it;
                # never two daemons writing the same cache file.
                self.hosts[0].start()
            for h in self.hosts:
                h.launch()
            for h in self.hosts:  # their initialisations overlap
                h.wait_ready()
        except BaseException:
            self.close()
            raise

    def __getitem__(self, index: int) -> LocalHost:
        return self.hosts[index]

    def host(self, host_id: str) -> LocalHost:
        for h in self.hosts:
            if h.id == host_id:
                return h
        raise ActuatorError(f"unknown local host {host_id!r}; known: {[h.id for h in self.hosts]}")

    # The power switch of these hosts (fencing.PowerSwitch): what a fencer cuts and reads.
    def power_off(self, host_id: str) -> None:
        self.host(host_id).crash()

    def is_off(self, host_id: str) -> tuple[bool, str]:
        return self.host(host_id).off()

    def fleet(self) -> Fleet:
        """A fleet over every host, labelled with its rack and zone (as the inventory)."""
        return Fleet([HostConnection(h.id, h.uri, {"rack": h.rack, "zone": h.zone})
                      for h in self.hosts])

    def inventory(self, overcommit: dict[str, float] | None = None) -> dict[str, Any]:
        """The hosts in the agreed inventory format (capacity left to libvirt)."""
        hosts: list[dict[str, Any]] = [
            {"id": h.id, "uri": h.uri, "rack": h.rack, "zone": h.zone,
             "labels": {"local": "true", "host_uuid": h.uuid}} for h in self.hosts]
        doc: dict[str, Any] = {"hosts": hosts}
        if overcommit:
            doc["defaults"] = {"overcommit": dict(overcommit)}
        return doc

    def write_inventory(self, path: Path, overcommit: dict[str, float] | None = None) -> Path:
        path.write_text(yaml.safe_dump(self.inventory(overcommit), sort_keys=False))
        return path

    def close(self) -> None:
        for h in self.hosts:
            h.stop()
        if self._own_root:
            with contextlib.suppress(OSError):
                shutil.rmtree(self.root)

    def __enter__(self) -> LocalHosts:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def define_guest(fleet: Fleet, host_id: str, name: str, *, start: bool = True,
                 memory_mib: int = 64) -> libvirt.virDomain:
    """Define (and boot) a tiny guest on ``host_id``; its spec is kept in ``fleet.specs``,
    which is what a failover defines elsewhere once the host is gone."""
    conn = fleet.host(host_id).get()
    spec = tiny_guest(name, host_id, memory_mib)
    dom = conn.defineXML(domain_xml(spec, domain_type(conn)))
    fleet.specs[name] = spec
    if start and not dom.isActive():
        dom.create()
    return dom
