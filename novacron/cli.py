"""The ``novacron`` command line."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from novacron import __version__
from novacron.settings import get_settings

if TYPE_CHECKING:
    from novacron.inventory import Inventory

app = typer.Typer(help="NovaCron: a self-driving control plane for libvirt/KVM fleets.",
                  no_args_is_help=True, add_completion=False)
services_app = typer.Typer(help="Local services: PostgreSQL, the broker, the TSDB, MLflow.",
                           no_args_is_help=True)
app.add_typer(services_app, name="services")
inventory_app = typer.Typer(help="The host inventory: check a file.", no_args_is_help=True)
app.add_typer(inventory_app, name="inventory")
__import__("novacron.api_cli").api_cli.register(app)  # policy, token, api
console = Console()
__import__("novacron.train_cli").train_cli.register(app)
__import__("novacron.reconcile_cli").reconcile_cli.register(app)
__import__("novacron.vm_cli").vm_cli.register(app)  # vm create
__import__("novacron.collect_cli").collect_cli.register(app)
__import__("novacron.consolidate_cli").consolidate_cli.register(app)


@app.command()
def version() -> None:
    """Print the version."""
    console.print(f"novacron {__version__}")


InventoryOption = Annotated[Path | None, typer.Option(
    "--inventory", help="The host inventory (YAML); default: NOVACRON_INVENTORY.",
    dir_okay=False)]


def _load_inventory(path: Path) -> Inventory:
    """The inventory at ``path``, or exit 2 with its file/line problems."""
    from novacron.inventory import InventoryError, load_inventory

    try:
        return load_inventory(path)
    except InventoryError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(2) from None


@app.command()
def up(
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    speed: Annotated[float, typer.Option(help="Event time per wall time (60 = 1 h per min); "
                                         "the simulated fleet's replay only.")] = 60.0,
    inventory: InventoryOption = None,
) -> None:
    """Run the whole loop: on the hosts of an inventory (--inventory or NOVACRON_INVENTORY),
    read by the collector and kept in step by the reconciler; else on the embedded default,
    a simulated fleet replaying real traces."""
    from novacron.embedded import run_embedded

    if duration is not None and duration <= 0:
        raise typer.BadParameter("--duration must be positive")
    if speed <= 0:
        raise typer.BadParameter("--speed must be positive")
    path = inventory or get_settings().inventory
    if path is not None:
        _load_inventory(path)  # its problems before anything starts
    if "NOVACRON_CONSUMER_GROUP" not in os.environ:
        # The dev broker may still hold a group from an earlier, killed run, and its topics
        # still hold that run's events: a fresh group that starts at the latest offsets
        # isolates this run. Production runs `novacron worker` with a stable group.
        os.environ["NOVACRON_CONSUMER_GROUP"] = f"novacron-embedded-{uuid.uuid4().hex[:8]}"
        os.environ.setdefault("NOVACRON_CONSUMER_OFFSET_RESET", "latest")
        get_settings.cache_clear()
    feed = asyncio.run(run_embedded(get_settings(), duration, speed, console, inventory=path))
    console.print(f"done: {dict(feed.counts)}")


@app.command()
def worker(inventory: InventoryOption = None) -> None:
    """Run the stream worker in the foreground (production: one per host or pod) on the hosts
    of --inventory, else NOVACRON_INVENTORY, else NOVACRON_HOST_URIS."""
    from novacron.actuators.inventory_fleet import host_facts, identify, open_fleet
    from novacron.inventory import InventoryError, inventory_from_uris
    from novacron.store import repository
    from novacron.streams.main import app as faust_app
    from novacron.streams.worker import build_runtime

    settings = get_settings()
    path = inventory or settings.inventory
    if path is not None:
        hosts = _load_inventory(path)
    elif settings.host_uris:
        try:
            hosts = inventory_from_uris(settings.host_uris, identify=identify)
        except InventoryError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(2) from None
    else:
        typer.echo("no hosts to manage: pass --inventory FILE, or set NOVACRON_INVENTORY to an "
                   "inventory file (or NOVACRON_HOST_URIS to libvirt URIs)", err=True)
        raise typer.Exit(2)
    fleet = open_fleet(hosts)
    facts = host_facts(fleet, hosts)
    rt = build_runtime(settings, fleet)
    with rt.sessions.begin() as s:
        synced = repository.sync_hosts(s, hosts, facts)
    for host_id, f in facts.items():
        console.print(f"host {host_id}: {'up' if f.reachable else 'unreachable: ' + str(f.error)}",
                      markup=False, highlight=False)
    if synced.retired or synced.removed:
        console.print(f"retired {synced.retired}, removed {synced.removed}", markup=False)
    sys.argv = [sys.argv[0], "worker"]  # Faust's own command line reads argv
    faust_app.main()


@inventory_app.command("validate")
def inventory_validate(path: Annotated[Path, typer.Argument(dir_okay=False)]) -> None:
    """Check an inventory file: print its hosts, or every problem as file:line: field (exit 2)."""
    inv = _load_inventory(path)
    typer.echo(f"{path}: {len(inv.hosts)} hosts, valid")
    for h in inv.hosts:
        facts = [f"rack={h.rack}", f"zone={h.zone}"]
        if h.price_per_hour is not None:
            facts.append(f"price_per_hour={h.price_per_hour:g}")
        if h.overcommit is not None:
            facts.append(f"overcommit=cpu:{h.overcommit.cpu:g},memory:{h.overcommit.memory:g}")
        facts.append("numa=" + ("+".join(f"{c.cpus}cpu/{c.memory_mib}MiB" for c in h.numa)
                                if h.numa else "from-libvirt"))
        facts += [f"{k}={v}" for k, v in vars(h.capacity).items() if v is not None]
        facts += [f"label:{k}={v}" for k, v in sorted(h.labels.items())]
        typer.echo(f"{h.id}  {h.uri}  {' '.join(facts)}")


@services_app.command("start")
def services_start(names: Annotated[list[str] | None, typer.Argument()] = None) -> None:
    """Start the services (all by default) unless they are already up."""
    from novacron.services import start_all

    for name, state in start_all(get_settings(), names).items():
        console.print(f"{name}: {state}")


@services_app.command("stop")
def services_stop(names: Annotated[list[str] | None, typer.Argument()] = None) -> None:
    """Stop the services novacron started."""
    from novacron.services import stop_all

    for name, state in stop_all(get_settings(), names).items():
        console.print(f"{name}: {state}")


@services_app.command("status")
def services_status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Probe every service; exit 1 if one is down."""
    from novacron.services import status_all

    status = status_all(get_settings())
    if as_json:
        console.print_json(json.dumps(status))
    else:
        for name, ok in status.items():
            console.print(f"{name}: {'up' if ok else 'down'}")
    if not all(status.values()):
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
