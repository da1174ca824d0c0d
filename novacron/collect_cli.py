"""``novacron collect``: read the real hosts' counters and publish them on novacron.metrics.raw."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from novacron.settings import get_settings

console = Console()


def register(app: typer.Typer) -> None:
    """Add the ``collect`` command to ``app``."""
    app.command("collect")(collect)


def collect(
    inventory: Annotated[
        Path | None,
        typer.Option(help="Host inventory YAML (default: the hosts of NOVACRON_HOST_URIS)."),
    ] = None,
    interval: Annotated[float, typer.Option(min=0.5, help="Seconds between reads of a host.")] = 10.0,
    once: Annotated[bool, typer.Option(
        help="Read every host twice, one interval apart (rates need two reads), publish, exit.")] = False,
    prometheus: Annotated[list[str] | None, typer.Option(
        help="[HOST_ID=]URL of a host's prometheus-libvirt-exporter or node_exporter; repeat it. "
             "URLs of one host name (or one HOST_ID) are read as one host.")] = None,
    vm_samples: Annotated[bool, typer.Option(help="Publish every running VM's samples.")] = True,
    host_samples: Annotated[bool, typer.Option(
        help="Also publish each host's own cpu and memory, as vm_id host:<host id> with source "
             "collector-host (features for the dashboards; never resized or healed as a VM).")] = True,
) -> None:
    """Publish every VM's cpu, memory, disk and network rates (and each host's cpu and
    memory) from libvirt or Prometheus exporters, one batch per host per interval."""
    from novacron.actuators.connection import Fleet
    from novacron.actuators.inventory_fleet import open_fleet
    from novacron.inventory import InventoryError, inventory_from_uris, load_inventory
    from novacron.streams.collector import run_collector
    from novacron.streams.prom_scrape import group_targets

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = get_settings()
    try:
        targets = group_targets(prometheus or [])
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--prometheus") from None
    try:
        if inventory is not None:
            fleet = open_fleet(load_inventory(inventory))
        elif settings.host_uris:
            fleet = open_fleet(inventory_from_uris(settings.host_uris))
        else:
            fleet = Fleet([])
    except (InventoryError, OSError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--inventory") from None
    if not vm_samples and not host_samples:
        raise typer.BadParameter("--no-vm-samples with --no-host-samples publishes nothing")
    if not fleet.hosts and not targets:
        raise typer.BadParameter("nothing to read: give --inventory FILE, set NOVACRON_HOST_URIS, "
                                 "or give --prometheus URL")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        stats = await run_collector(settings, fleet, stop, interval_s=interval,
                                    vm_samples=vm_samples, host_samples=host_samples,
                                    prometheus=targets,
                                    reads=2 if once else None)
        for host_id, hs in stats.hosts.items():
            console.print(f"{host_id}: {hs.reads} reads, {hs.failures} failed, {hs.batches} batches, "
                          f"{hs.vm_samples} VM + {hs.host_samples} host samples, "
                          f"{hs.reporting}/{hs.running} running VMs reporting cpu, {hs.state.value}"
                          + (f" ({hs.errors[-1]})" if hs.errors else ""))
        per = stats.collector_cpu_ms_per_vm_sample
        console.print(f"collector CPU: {stats.cpu_s * 1000:.1f} ms"
                      + (f", {per:.3f} ms per VM sample" if per is not None else ""))

    try:
        asyncio.run(main())
    finally:
        # A host whose read is still blocked in libvirt holds its connection's lock, and
        # closing it would wait as long: close in the background, and exit regardless.
        closer = threading.Thread(target=fleet.close, name="close-fleet", daemon=True)
        closer.start()
        closer.join(5.0)
