"""``novacron collect``: hosts from the inventory, a report per host, clear errors."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from novacron.cli import app
from novacron.settings import Settings


@pytest.mark.slow
def test_once_reads_every_inventory_host_twice_and_reports_each(tmp_path: Path, settings: Settings) -> None:
    run = uuid.uuid4().hex[:6]
    inventory = tmp_path / "hosts.yaml"
    inventory.write_text(f"hosts:\n  - id: cli-ok-{run}\n    uri: test:///default\n"
                         f"  - id: cli-gone-{run}\n    uri: qemu+unix:///system?socket=/nonexistent/sock\n")
    result = CliRunner().invoke(app, ["collect", "--inventory", str(inventory), "--once",
                                      "--interval", "0.5"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"cli-ok-{run}: 2 reads, 0 failed" in text
    assert f"cli-gone-{run}: 0 reads, 2 failed" in text and "failed (cannot connect" in text


def test_nothing_to_read_and_bad_targets_say_what_to_give(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOVACRON_HOST_URIS", raising=False)
    result = CliRunner().invoke(app, ["collect", "--once"])
    assert result.exit_code != 0 and "--inventory" in result.output
    result = CliRunner().invoke(app, ["collect", "--prometheus", "kvm-01:9177"])
    assert result.exit_code != 0 and "HOST_ID" in " ".join(result.output.split())


def test_a_bad_inventory_names_its_file(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.yaml"
    inventory.write_text("hosts:\n  - uri: test:///default\n")
    result = CliRunner().invoke(app, ["collect", "--inventory", str(inventory), "--once"])
    assert result.exit_code != 0 and "hosts.yaml" in " ".join(result.output.split())
