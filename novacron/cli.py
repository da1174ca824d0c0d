"""The ``novacron`` command line."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from typing import Annotated

import typer
from rich.console import Console

from novacron import __version__
from novacron.settings import get_settings

app = typer.Typer(help="NovaCron: a self-driving control plane for libvirt/KVM fleets.",
                  no_args_is_help=True, add_completion=False)
services_app = typer.Typer(help="Local services: PostgreSQL, the broker, the TSDB, MLflow.",
                           no_args_is_help=True)
app.add_typer(services_app, name="services")
__import__("novacron.api_cli").api_cli.register(app)  # policy, token, api
console = Console()
__import__("novacron.train_cli").train_cli.register(app)
__import__("novacron.collect_cli").collect_cli.register(app)


@app.command()
def version() -> None:
    """Print the version."""
    console.print(f"novacron {__version__}")


@app.command()
def up(
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    speed: Annotated[float, typer.Option(help="Event time per wall time (60 = 1 h per min).")] = 60.0,
) -> None:
    """Run the whole loop on the embedded default: a simulated fleet replaying real traces."""
    from novacron.embedded import run_embedded

    if duration is not None and duration <= 0:
        raise typer.BadParameter("--duration must be positive")
    if speed <= 0:
        raise typer.BadParameter("--speed must be positive")
    if "NOVACRON_CONSUMER_GROUP" not in os.environ:
        # The dev broker may still hold a group from an earlier, killed run, and its topics
        # still hold that run's events: a fresh group that starts at the latest offsets
        # isolates this run. Production runs `novacron worker` with a stable group.
        os.environ["NOVACRON_CONSUMER_GROUP"] = f"novacron-embedded-{uuid.uuid4().hex[:8]}"
        os.environ.setdefault("NOVACRON_CONSUMER_OFFSET_RESET", "latest")
        get_settings.cache_clear()
    feed = asyncio.run(run_embedded(get_settings(), duration, speed, console))
    console.print(f"done: {dict(feed.counts)}")


@app.command()
def worker() -> None:
    """Run the stream worker in the foreground (production: one per host or pod)."""
    from novacron.actuators.connection import Fleet, HostConnection
    from novacron.streams.main import app as faust_app
    from novacron.streams.worker import build_runtime

    settings = get_settings()
    if not settings.host_uris:
        raise typer.BadParameter("set NOVACRON_HOST_URIS to the libvirt URIs of the hosts")
    fleet = Fleet([HostConnection(uri.split("/")[-1] or uri, uri) for uri in settings.host_uris])
    build_runtime(settings, fleet)
    faust_app.main()


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
