"""bench.chaos draws its durations from bench.measure_durations' file, and says so; without
the file it falls back to its constants, and says that."""

from __future__ import annotations

import json
import random
from pathlib import Path

from bench.chaos import MACHINERY, Sim, load_durations, sensitivity


def _measured(path: Path, restart: list[float]) -> Path:
    doc = {"command": "python -m bench.measure_durations", "date": "2026-01-01T00:00:00+00:00",
           "machine": "test", "libvirt_daemon": "9.0.0", "qemu": "7.2.22",
           "samples_per_kind": len(restart), "host_loss_detect_median_s": 0.004,
           "host_loss_detect_n": 3}
    for _name, (kind, _fallback, _about) in MACHINERY.items():
        doc[f"{kind}_samples_s"] = [0.2, 0.25, 0.3]
    doc["restart_samples_s"] = restart
    path.write_text(json.dumps(doc))
    return path


def test_measured_durations_are_resampled_from_the_file(tmp_path: Path) -> None:
    d = load_durations(_measured(tmp_path / "m.json", [0.11, 0.13]))
    assert d.source.startswith("measured: m.json") and "libvirt 9.0.0" in d.source
    assert d["restart"].measured and not d["guest_os_boot"].measured
    rng = random.Random(1)
    assert {d["restart"].draw(rng) for _ in range(50)} == {0.11, 0.13}
    doubled = d.scaled("restart", 2.0)
    assert {doubled["restart"].draw(rng) for _ in range(50)} == {0.22, 0.26}
    assert d["restart"].factor == 1.0  # scaling makes a copy
    assert d.measured_info["host_loss_detect"].startswith("median 0.004")
    # the production guest's memory copy is added to a measured tiny-guest migration
    assert d["live_memory_copy"].uniform[1] > 0


def test_without_the_file_the_constants_are_used_and_named(tmp_path: Path) -> None:
    d = load_durations(tmp_path / "missing.json")
    assert d.source.startswith("constants:") and "missing.json missing" in d.source
    assert not any(x.measured for x in d.table.values())
    assert d["crash_event"].uniform == (0.05, 0.5)
    assert d["live_memory_copy"].uniform == (0.0, 0.0)  # the live constant includes it


def test_a_small_run_reports_its_source_and_sensitivity(tmp_path: Path) -> None:
    d = load_durations(_measured(tmp_path / "m.json", [0.2]))
    sim = Sim(seed=3, hosts=5, vms_per_host=2, faults=6, durations=d)
    sim.run()
    fig = sim.figures()
    assert fig["durations_source"] == d.source
    assert "measured, resampled from 1 values" in str(fig["duration_restart"])
    assert "guest_os_boot" in str(fig["assumptions"]) and "restart" not in str(
        fig["assumptions"]).split(", ")
    # a tiny fleet: the test checks what is reported, not the figures
    sens = sensitivity(d, 3, ("guest_os_boot",), fleet=(5, 2, 6))
    assert {"sens_guest_os_boot_x0.5_vm_crash_recovery_p95_s",
            "sens_guest_os_boot_x2_host_failure_recovery_p95_s",
            "sens_guest_os_boot_x2_autonomous_recovery_pct",
            "sens_base_vm_crash_recovery_p95_s"} <= set(sens)
