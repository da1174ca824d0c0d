"""``novacron vm create``: the placement use case (novacron.place_vm) run against the database
directly, as the API runs it; the worker's actuators then create the VM on the chosen host."""

from __future__ import annotations

import getpass
import json
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from novacron.settings import get_settings

console = Console()
vm_app = typer.Typer(help="VMs: create one where the placement engine says.", no_args_is_help=True)

Numa = typer.Option(help="none: float; prefer: fewest NUMA cells; require: one cell.")


def _pairs(values: list[str] | None, what: str) -> dict[str, str]:
    out = {}
    for v in values or []:
        key, sep, value = v.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{what} {v!r}: write KEY=VALUE")
        out[key] = value
    return out


def _disk(value: str) -> dict[str, Any]:
    parts = value.split(":")
    if len(parts) not in (2, 3):
        raise typer.BadParameter(f"--disk {value!r}: write /path/to/image:TARGET[:raw|qcow2], "
                                 "e.g. /var/lib/libvirt/images/a.qcow2:vda")
    disk = {"source": parts[0], "target": parts[1]}
    if len(parts) == 3:
        disk["format"] = parts[2]
    return disk


def _nic(value: str) -> dict[str, Any]:
    kind, _, source = value.partition(":")
    if kind not in ("network", "bridge", "user"):
        raise typer.BadParameter(f"--nic {value!r}: write network:NAME, bridge:NAME or user")
    return {"kind": kind, **({"source": source} if source else {})}


def _request(file: Path | None, vm: dict[str, Any], extra: dict[str, Any]) -> Any:
    from pydantic import ValidationError

    from novacron.api.schemas import PlacementIn

    if file is not None:
        import yaml

        doc = yaml.safe_load(file.read_text())
        if not isinstance(doc, dict):
            raise typer.BadParameter(f"{file}: expected a placement request (a mapping with 'vm')")
    else:
        doc = {"vm": vm, **extra}
    try:
        return PlacementIn.model_validate(doc)
    except ValidationError as exc:
        for err in exc.errors():
            got = err.get("input")
            shown = f" (got {got!r})" if isinstance(got, str | int | float) else ""
            console.print(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}{shown}", style="red",
                          markup=False, highlight=False)
        raise typer.Exit(2) from None


def _show(decision: dict[str, Any]) -> None:
    console.print(f"[bold]{decision['status']}[/bold] {decision['vm_id']} -> "
                  f"{decision['target_host'] or 'no host'}"
                  + (f"  score {decision['score']:.3f}" if decision["score"] is not None else "")
                  + f"  (decision {decision['decision_id']})")
    console.print(decision["explanation"])
    cells = (decision.get("detail") or {}).get("numa_cells")
    if cells:
        console.print(f"NUMA cells: {cells}")
    if decision["alternatives"]:
        table = Table("host", "score", "why it lost", title="alternatives")
        for a in decision["alternatives"]:
            table.add_row(str(a["host"]), f"{a['score']:.3f}", str(a["why_lost"]))
        console.print(table)


def _wait(url: str, decision_id: uuid.UUID, timeout_s: float) -> dict[str, Any]:
    from novacron.store import fleet
    from novacron.store.db import session_factory

    sessions = session_factory(url)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:  # probe the recorded outcome; the worker writes it
        with sessions() as s:
            row = fleet.placement_decision(s, decision_id)
            if row is not None and row.outcome and row.outcome.get("status") != "skipped":
                return row.outcome
        time.sleep(0.2)
    raise TimeoutError(f"no outcome within {timeout_s:g} s: is a worker (novacron worker) running "
                       "for this host?")


@vm_app.command("create")
def create(
    vcpus: Annotated[float, typer.Option(help="vCPUs (a fraction is a share for placement)")] = 1.0,
    memory_mib: Annotated[float, typer.Option(help="memory in MiB")] = 512.0,
    vm_id: Annotated[str | None, typer.Option(help="the VM's id (default: generated)")] = None,
    net_mbps: Annotated[float, typer.Option(help="network bandwidth reserved, Mbps")] = 0.0,
    disk_gib: Annotated[float, typer.Option(help="storage reserved, GiB")] = 0.0,
    iops: Annotated[float, typer.Option(help="storage IOPS reserved")] = 0.0,
    gpus: Annotated[float, typer.Option(help="GPUs (a fraction is a share)")] = 0.0,
    numa: Annotated[str, Numa] = "none",
    label: Annotated[list[str] | None, typer.Option(help="KEY=VALUE, repeatable")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="a tag policies select on, repeatable")] = None,
    host_label: Annotated[list[str] | None, typer.Option(
        help="KEY=VALUE: only hosts with this label (hard host affinity), repeatable")] = None,
    anti_affinity: Annotated[list[str] | None, typer.Option(
        help="KEY=VALUE: never on a host with a VM labelled so (hard), repeatable")] = None,
    strategy: Annotated[str, typer.Option(help="spread|binpack|balanced|cost|fragmentation")] = "balanced",
    disk: Annotated[list[str] | None, typer.Option(
        help="/path/image:TARGET[:raw|qcow2], defined as given, repeatable")] = None,
    nic: Annotated[list[str] | None, typer.Option(help="network:NAME, bridge:NAME or user")] = None,
    file: Annotated[Path | None, typer.Option(
        "--file", exists=True, dir_okay=False,
        help="a whole placement request (YAML or JSON, as POST /v2/placements takes); "
             "replaces the options above")] = None,
    start: Annotated[bool, typer.Option("--start/--no-start", help="start it once defined")] = True,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="decide and explain; record nothing")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="wait for the actuators' outcome")] = False,
    timeout: Annotated[float, typer.Option(help="seconds --wait waits")] = 120.0,
    as_json: Annotated[bool, typer.Option("--json", help="print the decision as JSON")] = False,
) -> None:
    """Place a VM on the fleet in PostgreSQL and queue its creation for the actuators."""
    from novacron import place_vm
    from novacron.api import views
    from novacron.store.db import migrate, session_factory

    vm: dict[str, Any] = {"vcpus": vcpus, "memory_mib": memory_mib, "net_mbps": net_mbps,
                          "disk_gib": disk_gib, "iops": iops, "gpus": gpus, "numa": numa,
                          "labels": _pairs(label, "--label"),
                          "disks": [_disk(d) for d in disk or []], "nics": [_nic(n) for n in nic or []]}
    if vm_id:
        vm["vm_id"] = vm_id
    extra: dict[str, Any] = {"strategy": strategy, "dry_run": dry_run,
                             "host_affinity": [{"label": k, "values": [v]}
                                               for k, v in _pairs(host_label, "--host-label").items()],
                             "anti_affinity": [{"labels": {k: v}} for k, v in
                                               _pairs(anti_affinity, "--anti-affinity").items()]}
    body = _request(file, vm, extra)
    url = get_settings().database_url
    migrate(url)
    try:
        with session_factory(url).begin() as s:
            out = place_vm.place(s, body, f"cli:{getpass.getuser()}", tags=tag or [], start=start)
            if out.preview is not None:
                decision = out.preview
            else:
                assert out.row is not None
                decision = views.placement(out.row, out.applied)
    except place_vm.PlacementError as exc:
        console.print(f"refused ({exc.status_code}): {json.dumps(exc.detail, default=str)}", style="red")
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(decision, default=str, indent=2))
    else:
        _show(decision)
    if not out.applied:  # a dry run, nothing fits (exit 1), or it waits for an operator
        if decision["status"] == "pending":
            raise typer.Exit(1)
        return
    if not wait:
        console.print("queued for the actuators (novacron worker creates it; --wait to see the outcome)")
        return
    try:
        outcome = _wait(url, decision["decision_id"], timeout)
    except TimeoutError as exc:
        console.print(str(exc), style="red")
        raise typer.Exit(1) from None
    style = "green" if outcome["status"] == "succeeded" else "red"
    took = float(outcome.get("duration_ms") or 0)
    console.print(f"{outcome['status']} on {outcome.get('host_id')} in {took:.0f} ms: {outcome['detail']}",
                  style=style)
    if outcome["status"] != "succeeded":
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(vm_app, name="vm")
