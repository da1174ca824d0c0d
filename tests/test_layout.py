"""The repository's layout, packaging and deployment files stay consistent."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from urllib.parse import urlparse

import yaml

from novacron.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
NOT_PACKAGES = {"tests", "bench", "notebooks", "deploy", "scripts", "docs"}


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_package_dir_maps_every_code_folder() -> None:
    mapping = _pyproject()["tool"]["setuptools"]["package-dir"]
    code_folders = {
        p.name for p in ROOT.iterdir()
        if p.is_dir() and (p / "__init__.py").exists() and p.name not in NOT_PACKAGES
    }
    mapped = {folder for folder in mapping.values()}
    assert code_folders == mapped, f"unmapped: {code_folders - mapped}, stale: {mapped - code_folders}"
    for name, folder in mapping.items():
        assert name == "novacron" if folder == "novacron" else name == f"novacron.{folder}"


def test_every_mapped_package_is_listed_and_importable() -> None:
    import importlib

    setuptools = _pyproject()["tool"]["setuptools"]
    for name in setuptools["package-dir"]:
        assert name in setuptools["packages"]
        importlib.import_module(name)


def test_readme_quick_start_is_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    head = text[: text.index("\n## ", text.index("## Quick start") + 1)]
    commands = re.findall(r"^make \w+", head, flags=re.M)
    assert commands == ["make run", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_compose_declares_every_endpoint_the_settings_need() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    env = services["worker"]["environment"]
    settings = Settings(**{k.removeprefix("NOVACRON_").lower(): v for k, v in env.items()
                           if k.startswith("NOVACRON_") and k not in ("NOVACRON_HOST_URIS", "NOVACRON_INVENTORY")})
    for url in (settings.kafka_bootstrap, settings.database_url, settings.tsdb_url,
                settings.mlflow_url, settings.serving_url):
        host = urlparse(url if "://" in url else f"tcp://{url}").hostname
        assert host in services, f"{url} points at {host!r}, which docker-compose.yml does not declare"
    for needed in ("kafka", "postgres", "victoriametrics", "mlflow", "forecaster", "grafana",
                   "prometheus", "worker", "api", "collector", "reconciler"):
        assert needed in services


def test_compose_inventory_is_valid() -> None:
    from novacron.inventory import load_inventory

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    env = compose["services"]["worker"]["environment"]
    mounted = {v.split(":")[1]: v.split(":")[0] for v in compose["services"]["worker"]["volumes"]}
    source = mounted[env["NOVACRON_INVENTORY"]]
    assert len(load_inventory(ROOT / source).hosts) >= 2


def test_compose_provisioning_files_exist() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for svc in compose["services"].values():
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0]
            if src.startswith("./"):
                assert (ROOT / src).exists(), f"{src} is mounted but missing"


# Modules that import the Faust app: it must be imported in the BackgroundWorker's thread, so a
# test module that imports one of them at collection time breaks every e2e test of the run.
_FAUST_MODULES = ("app", "actuate", "broker_watch", "deadletter", "decide", "decide_group", "features", "heal",
                  "main", "outbox_relay", "record")


def test_no_test_module_imports_the_faust_app_at_collection() -> None:
    root = Path(__file__).parent
    names = "|".join(_FAUST_MODULES)
    pattern = re.compile(
        rf"^(from novacron\.streams\.({names}) import|import novacron\.streams\.({names})\b"
        rf"|from novacron\.streams import .*\b({names})\b)",
        re.M,
    )
    offenders = [
        str(p.relative_to(root)) for p in root.rglob("*.py") if pattern.search(p.read_text())
    ]
    assert offenders == [], f"import these inside the worker thread or move the code out: {offenders}"


def test_the_faust_module_list_is_complete() -> None:
    streams = Path(__file__).parent.parent / "streams"
    importers = {
        p.stem for p in streams.glob("*.py") if "from novacron.streams.app import" in p.read_text()
    }
    assert importers <= set(_FAUST_MODULES), importers - set(_FAUST_MODULES)
