"""``novacron reconcile``: keep PostgreSQL's hosts and VMs equal to what libvirt reports."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from novacron.settings import get_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from novacron.actuators.connection import Fleet
    from novacron.inventory import Inventory
    from novacron.settings import Settings


def register(app: typer.Typer) -> None:
    """Add the ``reconcile`` command to ``app``."""
    app.command("reconcile")(reconcile)


def reconcile(
    inventory: Annotated[Path | None, typer.Option(
        dir_okay=False, help="Host inventory YAML (default: NOVACRON_INVENTORY, else NOVACRON_HOST_URIS).")
    ] = None,
    once: Annotated[bool, typer.Option(help="One pass, print what it found, and exit.")] = False,
    interval: Annotated[float, typer.Option(min=0.5, help="Seconds between passes.")] = 10.0,
) -> None:
    """Record in PostgreSQL what libvirt reports (VM state, host, size; hosts reachable or
    not) and report every drift as a fleet event with its reason (GET /v2/fleet/events, topic
    novacron.fleet). Never changes an operator's desired state."""
    from novacron.actuators.inventory_fleet import host_facts, open_fleet
    from novacron.store import repository
    from novacron.store.db import session_factory
    from novacron.streams.reconciler import reconcile_once

    settings = get_settings()
    hosts = _hosts(inventory or settings.inventory)
    fleet = open_fleet(hosts)
    sessions = session_factory(settings.database_url)
    try:
        with sessions.begin() as s:  # the hosts' size and facts, as the worker records them
            repository.sync_hosts(s, hosts, host_facts(fleet, hosts), prune=False)
        if once:
            report = reconcile_once(fleet, sessions)
            for host_id, error in sorted(report.unreachable.items()):
                typer.echo(f"host {host_id}: unreachable: {error}")
            for ev in report.events:
                typer.echo(f"{ev.change.value}: {ev.reason}")
            typer.echo(f"{report.hosts} hosts, {len(report.events)} events, {report.vms_written} VM rows "
                       f"written; looked {report.observe_ms:.0f} ms, wrote {report.write_ms:.0f} ms")
            return
        asyncio.run(_loop(settings, fleet, sessions, interval))
    finally:
        fleet.close()


async def _loop(settings: Settings, fleet: Fleet, sessions: sessionmaker[Session], interval: float) -> None:
    from novacron.streams.reconciler import run_reconciler

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await run_reconciler(settings, fleet, sessions, stop, interval)


def _hosts(path: Path | None) -> Inventory:
    from novacron.actuators.inventory_fleet import identify
    from novacron.inventory import InventoryError, inventory_from_uris, load_inventory

    try:
        if path is not None:
            return load_inventory(path)
        if get_settings().host_uris:
            return inventory_from_uris(get_settings().host_uris, identify=identify)
    except InventoryError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(2) from None
    typer.echo("no hosts to reconcile: pass --inventory FILE, or set NOVACRON_INVENTORY to an "
               "inventory file (or NOVACRON_HOST_URIS to libvirt URIs)", err=True)
    raise typer.Exit(2)
