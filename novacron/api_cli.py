"""CLI for policies (GitOps), tokens and serving the API: ``novacron policy|token|api``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from novacron.settings import get_settings

console = Console()
policy_app = typer.Typer(help="Policies as files: validate, diff against the store, apply.",
                         no_args_is_help=True)
token_app = typer.Typer(help="API tokens (stored hashed; shown once).", no_args_is_help=True)
DirArg = Annotated[Path, typer.Argument(exists=True, file_okay=True, dir_okay=True,
                                        help="A directory (or file) of policy YAML.")]


def _load(directory: Path) -> list[object]:
    from novacron.policy import lint_paths

    report = lint_paths([directory])
    for f in report.findings:
        typer.echo(str(f))
    if not report.ok:
        console.print(f"{len(report.errors)} error(s)", style="red")
        raise typer.Exit(1)
    return list(report.policies)


@policy_app.command("validate")
def validate(directory: DirArg) -> None:
    """Load and lint every policy file; print file:line errors; exit 1 on any error."""
    policies = _load(directory)
    console.print(f"ok: {len(policies)} policies")


def _diff(directory: Path) -> tuple[list[object], dict[str, Any], list[str]]:
    from novacron.policy import LoadedPolicy
    from novacron.store import fleet
    from novacron.store.db import migrate, session_factory

    loaded = [p for p in _load(directory) if isinstance(p, LoadedPolicy)]
    url = get_settings().database_url
    migrate(url)
    with session_factory(url)() as s:
        stored = {p.name: p.spec for p in fleet.policies(s)}
    wanted = {lp.name: lp.policy.model_dump(mode="json", by_alias=True, exclude_defaults=True)
              for lp in loaded}
    lines = []
    for name in sorted(set(wanted) | set(stored)):
        if name not in stored:
            lines.append(f"+ {name}")
        elif name not in wanted:
            lines.append(f"- {name}")
        elif stored[name] != {**wanted[name], "name": name}:
            lines.append(f"~ {name}")
    return list(loaded), stored, lines


@policy_app.command("diff")
def diff(directory: DirArg) -> None:
    """What `apply` would change in the store: + new, ~ changed, - removed."""
    _, _, lines = _diff(directory)
    for line in lines:
        console.print(line, markup=False)
    console.print(f"{len(lines)} change(s)")


@policy_app.command("apply")
def apply(directory: DirArg,
          prune: Annotated[bool, typer.Option(help="Delete stored policies absent here.")] = True) -> None:
    """Sync the directory to the store (the directory is the source of truth)."""
    from novacron.policy import LoadedPolicy
    from novacron.store import fleet
    from novacron.store.db import session_factory

    loaded, stored, lines = _diff(directory)
    with session_factory(get_settings().database_url).begin() as s:
        for lp in loaded:
            assert isinstance(lp, LoadedPolicy)
            spec = {**lp.policy.model_dump(mode="json", by_alias=True, exclude_defaults=True),
                    "name": lp.name}
            fleet.upsert_policy(s, lp.name, lp.policy.priority, spec, f"{lp.file}:{lp.line}")
        if prune:
            names = {lp.name for lp in loaded if isinstance(lp, LoadedPolicy)}
            for name in set(stored) - names:
                fleet.delete_policy(s, name)
    for line in lines:
        console.print(line, markup=False)
    console.print(f"applied {len(lines)} change(s)")


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option(help="viewer, operator or admin.")] = "viewer",
    name: Annotated[str, typer.Option(help="Who or what holds the token.")] = "cli",
) -> None:
    """Create a token (the way to make the first admin token). Printed once, stored hashed."""
    from novacron.api.admin import create_token
    from novacron.api.tokens import ROLES
    from novacron.store.db import migrate, session_factory

    if role not in ROLES:
        raise typer.BadParameter(f"--role must be one of {', '.join(ROLES)}")
    url = get_settings().database_url
    migrate(url)
    with session_factory(url).begin() as s:
        token_id, token = create_token(s, name, role, "cli")
    console.print(f"token {token_id} ({role}); store it now, it is not shown again:", style="bold")
    print(token)


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes.")] = 1,
) -> None:
    """Serve the API with uvicorn (migrates the database first)."""
    import uvicorn

    from novacron.api.config import get_api_settings
    from novacron.store.db import migrate

    cfg = get_api_settings()
    migrate(get_settings().database_url)
    uvicorn.run("novacron.api.app:app", host=host or cfg.host, port=port or cfg.port, workers=workers,
                access_log=False, log_level="info")


def register(app: typer.Typer) -> None:
    app.add_typer(policy_app, name="policy")
    app.add_typer(token_app, name="token")
    app.command("api")(serve)
