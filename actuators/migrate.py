"""Move a VM to another host: live (virDomainMigrateToURI3) where the driver can, cold where
it cannot (define on the target, start there, undefine on the source).

The invariant is never two running copies: the target is started only after the source is
proven not running (read from the source host, or a fence proof when it is unreachable).
Every step is safe to repeat, so an actuator killed between any two steps converges when the
same decision is executed again.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import libvirt
from novacron.actuators import lifecycle
from novacron.actuators.connection import ActuatorError, Fleet
from novacron.actuators.deadline import ActuatorTimeout, Deadline
from novacron.actuators.placement_state import copies, domain_type, spec_of
from novacron.actuators.xml import domain_xml

# libvirt's answers for "this driver (or this pair of hosts) cannot migrate".
_UNSUPPORTED = {libvirt.VIR_ERR_NO_SUPPORT, libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED,
                libvirt.VIR_ERR_OPERATION_UNSUPPORTED}


class LiveMigrationUnsupported(ActuatorError):
    """The driver has no live migration between these hosts."""


def _checkpoint(step: str) -> None:
    """Between steps; tests replace it to kill the actuator at each point."""


def _lookup(fleet: Fleet, host_id: str, vm_id: str) -> tuple[libvirt.virDomain | None, bool]:
    """(domain or None, reachable)."""
    try:
        return fleet.lookup(host_id, vm_id), True
    except ActuatorError:
        return None, False


def cold_migrate(fleet: Fleet, vm_id: str, source: str, target: str, deadline: Deadline,
                 *, source_fenced: bool = False, graceful_s: float = 20.0) -> str:
    """Stop on ``source`` (graceful, then destroy), define and start on ``target``, undefine on
    ``source``. ``source_fenced``: a fencer proved the source copy dead, which stands in for
    reading it when the source host is unreachable. Returns what was done."""
    if source == target:
        raise ActuatorError(f"{vm_id}: source and target are both {source}")
    done: list[str] = []
    src, src_reachable = _lookup(fleet, source, vm_id)
    tgt, tgt_reachable = _lookup(fleet, target, vm_id)
    if not tgt_reachable:
        raise ActuatorError(f"{vm_id}: target host {target} unreachable")
    if tgt is not None and tgt.isActive() and src is not None and src.isActive():
        raise ActuatorError(f"{vm_id}: running on both {source} and {target}; refusing to "
                            "choose (fence one first)")
    spec = spec_of(fleet, vm_id, source, target)

    # 1. The source copy stops (it may already be dead: crashed, fenced, host down).
    if src is not None and src.isActive():
        lifecycle.shutdown(src, deadline, by_operator=False, graceful_s=graceful_s)
        done.append(f"stopped on {source}")
        _checkpoint("source-stopped")

    def source_is_off() -> None:
        if src_reachable:
            if src is not None and src.isActive():
                raise ActuatorError(f"{vm_id}: still running on {source}; not starting a copy")
        elif not source_fenced:
            raise ActuatorError(f"{vm_id}: source host {source} unreachable and not fenced: "
                                "no proof the old copy is dead")

    source_is_off()
    deadline.check(f"{vm_id}: cold migration")
    # 2. Defined on the target (as the same spec; only its host label changes).
    if tgt is None:
        moved = spec.model_copy(update={"labels": {**spec.labels, "host": target}})
        conn = fleet.host(target).get()
        tgt = conn.defineXML(domain_xml(moved, domain_type(conn)))
        done.append(f"defined on {target}")
        _checkpoint("target-defined")
    # 3. Started on the target, after checking once more that the source is not running.
    if not lifecycle.is_running(tgt):
        source_is_off()
        lifecycle.start(tgt, deadline)
        done.append(f"started on {target}")
        _checkpoint("target-started")
    # 4. The source definition goes (a dead host's stale copy stays until it is back).
    if src is not None:
        if src.isActive():
            raise ActuatorError(f"{vm_id}: source copy on {source} came back while moving")
        src.undefine()
        done.append(f"undefined on {source}")
        _checkpoint("source-undefined")
    elif not src_reachable:
        done.append(f"source {source} unreachable (fenced): its stale definition stays")
    return "cold migration: " + (", ".join(done) or "already done")


@dataclass(frozen=True, slots=True)
class Moved:
    """What a move did, and a live migration's job statistics (libvirt's completed job):
    ``downtime_ms``, ``elapsed_ms``... empty for a cold move."""

    text: str
    stats: dict[str, float] = field(default_factory=dict)


# libvirt's completed-job fields -> ours (milliseconds and bytes, as libvirt gives them).
_STATS = {"downtime": "downtime_ms", "downtime_net": "downtime_net_ms",
          "time_elapsed": "elapsed_ms", "setup_time": "setup_ms",
          "memory_total": "memory_total_bytes", "memory_processed": "memory_processed_bytes",
          "data_total": "data_total_bytes", "memory_iteration": "memory_iterations",
          "memory_bps": "memory_bps"}


def migration_uri(dest_uri: str) -> str | None:
    """Where QEMU sends the guest's memory. libvirt's default is the target's hostname, right
    between remote hosts; a target reached over a local socket (qemu+unix, or qemu:/// with
    no host) runs on this machine, whose hostname may not resolve to it."""
    parts = urlsplit(dest_uri)
    if parts.scheme.endswith("+unix") or not parts.hostname or parts.hostname == "localhost":
        return "tcp://127.0.0.1"
    return None


def completed_job(dom: libvirt.virDomain) -> dict[str, float]:
    """The statistics of the domain's last completed job (a finished incoming migration on
    the target), kept for a later reader; empty when libvirt has none."""
    try:
        raw = dom.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED
                           | libvirt.VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED)
    except libvirt.libvirtError:
        return {}
    return {ours: float(raw[theirs]) for theirs, ours in _STATS.items() if theirs in raw}


def _stats_text(stats: dict[str, float]) -> str:
    if "downtime_ms" not in stats:
        return " (no job statistics from libvirt)"
    text = f": downtime {stats['downtime_ms']:.0f} ms"
    if "elapsed_ms" in stats:
        text += f", elapsed {stats['elapsed_ms']:.0f} ms"
    if "memory_processed_bytes" in stats:
        text += f", {stats['memory_processed_bytes'] / 2**20:.1f} MiB sent"
    return text


def live_migrate(fleet: Fleet, vm_id: str, source: str, target: str, deadline: Deadline) -> Moved:
    """Migrate the running domain peer to peer (the source daemon talks to the target's),
    persistent on the target and undefined on the source; the job is aborted at the
    deadline. The target's completed-job statistics come back with the text."""
    src, _ = _lookup(fleet, source, vm_id)
    tgt, _ = _lookup(fleet, target, vm_id)
    if tgt is not None and lifecycle.is_running(tgt) and (src is None or not src.isActive()):
        return Moved("live migration: already on the target", completed_job(tgt))
    if src is None or not src.isActive():
        raise LiveMigrationUnsupported(f"{vm_id}: not running on {source}; nothing to live-migrate")
    flags = (libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER
             | libvirt.VIR_MIGRATE_PERSIST_DEST | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE)
    dest_uri = fleet.host(target).uri
    params = {libvirt.VIR_MIGRATE_PARAM_DEST_NAME: vm_id}
    if (uri := migration_uri(dest_uri)) is not None:
        params[libvirt.VIR_MIGRATE_PARAM_URI] = uri
    error: list[libvirt.libvirtError] = []

    def run() -> None:
        try:
            src.migrateToURI3(dest_uri, params, flags)
        except libvirt.libvirtError as exc:
            error.append(exc)

    worker = threading.Thread(target=run, name=f"migrate-{vm_id}", daemon=True)
    worker.start()
    worker.join(deadline.left())
    if worker.is_alive():
        with contextlib.suppress(libvirt.libvirtError):
            src.abortJob()
        worker.join(5.0)
        raise ActuatorTimeout(f"{vm_id}: live migration to {target} aborted at its deadline")
    if error:
        if error[0].get_error_code() in _UNSUPPORTED:
            raise LiveMigrationUnsupported(f"{vm_id}: {error[0]}") from error[0]
        raise ActuatorError(f"{vm_id}: live migration to {target} failed: {error[0]}") from error[0]
    moved, _ = _lookup(fleet, target, vm_id)
    stats = completed_job(moved) if moved is not None else {}
    return Moved(f"live migration to {target}{_stats_text(stats)}", stats)


def undefine_stale(fleet: Fleet, host_id: str) -> list[str]:
    """For a host back from a failure: undefine the copies it still lists (shut off, as its
    daemon found them) of VMs that now run on another host, so none can run twice. A copy
    of a VM that runs nowhere else is kept: it is the only one. Returns what was removed."""
    conn = fleet.host(host_id).get()
    removed = []
    for dom in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_INACTIVE):
        name = dom.name()
        elsewhere = [h for h, state in copies(fleet, name).items()
                     if h != host_id and state == "running"]
        if not elsewhere or dom.isActive():
            continue
        with contextlib.suppress(libvirt.libvirtError):
            dom.setAutostart(0)
        dom.undefine()
        removed.append(f"{name} (runs on {elsewhere[0]})")
    return removed


def migrate(fleet: Fleet, vm_id: str, source: str, target: str, deadline: Deadline, *,
            live: bool = True, source_fenced: bool = False) -> Moved:
    """Live when asked and possible, else cold."""
    if live:
        try:
            return live_migrate(fleet, vm_id, source, target, deadline)
        except LiveMigrationUnsupported as exc:
            done = cold_migrate(fleet, vm_id, source, target, deadline,
                                source_fenced=source_fenced)
            return Moved(f"{done} (live unavailable: {exc})")
    return Moved(cold_migrate(fleet, vm_id, source, target, deadline, source_fenced=source_fenced))
