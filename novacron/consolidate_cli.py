"""``novacron consolidate``: pack the running guests onto fewer hosts with live migrations."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from novacron.settings import get_settings

if TYPE_CHECKING:
    from novacron.consolidate import ConsolidationSettings
    from novacron.inventory import Inventory

console = Console()


def register(app: typer.Typer) -> None:
    """Add the ``consolidate`` command to ``app``."""
    app.command("consolidate")(consolidate)


def _inventory(path: Path | None) -> Inventory:
    from novacron.inventory import InventoryError, inventory_from_uris, load_inventory

    settings = get_settings()
    path = path or getattr(settings, "inventory", None)
    try:
        if path is not None:
            return load_inventory(path)
        if settings.host_uris:
            return inventory_from_uris(settings.host_uris)
    except InventoryError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(2) from None
    typer.echo("no hosts: pass --inventory FILE, or set NOVACRON_HOST_URIS to libvirt URIs",
               err=True)
    raise typer.Exit(2)


def _settings(inv: Inventory, time_limit: float, max_moves: int | None) -> ConsolidationSettings:
    from novacron.consolidate import ConsolidationSettings

    overcommit = {h.id: (h.overcommit.cpu, h.overcommit.memory)
                  for h in inv.hosts if h.overcommit is not None}
    prices = {h.id: h.price_per_hour for h in inv.hosts if h.price_per_hour is not None}
    return ConsolidationSettings(host_overcommit=overcommit, prices=prices,
                                 time_limit_s=time_limit, max_moves=max_moves)


def consolidate(
    inventory: Annotated[
        Path | None,
        typer.Option(help="Host inventory YAML (default: NOVACRON_INVENTORY, else the hosts of "
                          "NOVACRON_HOST_URIS)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Print the plan and its decisions; move nothing.")] = False,
    time_limit: Annotated[float, typer.Option(min=0.1, help="Seconds the optimizer may search.")] = 2.0,
    max_moves: Annotated[int | None, typer.Option(min=1, help="At most this many migrations.")] = None,
) -> None:
    """Plan the fleet onto fewer (or cheaper) hosts and carry the plan out with live
    migrations, one at a time, each recorded in the action ledger with its downtime."""
    from novacron.actuators.inventory_fleet import open_fleet
    from novacron.consolidate import ConsolidationPlan
    from novacron.consolidate import consolidate as run
    from novacron.events import ActionResult
    from novacron.store.db import session_factory
    from novacron.store.ledger import PgLedger

    def show_plan(planned: ConsolidationPlan) -> None:
        console.print(planned.explanation)
        for d in planned.decisions:
            console.print(f"  {d.params['step']}. {d.target_id}: {d.params['source_host']} -> "
                          f"{d.params['target_host']}" + (" (parking)" if d.params["parking"] else ""))

    def show_result(r: ActionResult) -> None:
        downtime = r.after.get("downtime_ms")
        console.print(f"  {r.target_id}: {r.status.value} in {r.duration_ms / 1000:.1f} s"
                      + (f", downtime {downtime:.0f} ms" if downtime is not None else "")
                      + f" ({r.detail})")

    inv = _inventory(inventory)
    fleet = open_fleet(inv)
    try:
        ledger = PgLedger(session_factory(get_settings().database_url))
        report = run(fleet, ledger, _settings(inv, time_limit, max_moves), dry_run=dry_run,
                     on_plan=show_plan, on_result=show_result)
    finally:
        fleet.close()
    if dry_run:
        return
    if report.stopped:
        console.print(f"stopped: {report.stopped}")
    if report.plan.plan.freed_hosts:
        console.print(f"freed: {', '.join(report.freed) or 'none'}"
                      + (f"; still running guests: {', '.join(report.not_freed)}"
                         if report.not_freed else ""))
    if not report.succeeded:
        raise typer.Exit(1)
