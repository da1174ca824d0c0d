"""Boot-sector guests on a real QEMU (TCG): the busy one burns its vCPU, the idle one sleeps."""

from __future__ import annotations

import time
from pathlib import Path

import libvirt
import pytest
from novacron.actuators.guest_images import SECTOR, boot_sector, write_image
from novacron.actuators.qemu_session import SessionDaemon, guest_spec
from novacron.actuators.xml import domain_xml


def test_sector_is_bootable() -> None:
    for kind in ("busy", "idle"):
        sector = boot_sector(kind)
        assert len(sector) == SECTOR and sector[-2:] == b"\x55\xaa"
    assert boot_sector("busy") != boot_sector("idle")


@pytest.mark.slow
def test_busy_guest_burns_its_vcpu_idle_does_not() -> None:
    share: dict[str, float] = {}
    with SessionDaemon() as daemon:
        # The daemon's own directory: its unprivileged QEMU can reach it (pytest's is 0700).
        images = Path(daemon.root) / "images"
        conn = libvirt.open(daemon.uri)
        try:
            for kind in ("busy", "idle"):
                spec = guest_spec(f"nc-img-{kind}", "h").model_copy(
                    update={"disks": (write_image(images / f"{kind}.img", kind),)})
                dom = conn.defineXML(domain_xml(spec, "qemu"))
                dom.create()
                try:
                    time.sleep(1.0)  # past SeaBIOS's own start
                    t0, w0 = dom.info()[4], time.monotonic()
                    time.sleep(1.5)
                    share[kind] = (dom.info()[4] - t0) / ((time.monotonic() - w0) * 1e9)
                finally:
                    dom.destroy()
                    dom.undefine()
        finally:
            conn.close()
    assert share["busy"] > 0.5, share
    assert share["idle"] < 0.3, share
