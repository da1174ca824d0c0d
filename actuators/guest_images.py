"""Boot-sector guests: the smallest real workloads a QEMU guest can run without an OS image.

SeaBIOS loads the first sector of a raw disk at 0x7c00 and jumps to it. A ``busy`` sector is
``jmp $`` (one vCPU at 100 %: real CPU time that the collector reads from ``cpu.time``); an
``idle`` one is ``cli; hlt`` (the vCPU sleeps, near 0 %). They let tests and benchmarks make
a guest's load without building or downloading an image.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from novacron.actuators.xml import DiskSpec

SECTOR = 512
_CODE: dict[str, bytes] = {
    "busy": bytes([0xEB, 0xFE]),  # jmp $
    "idle": bytes([0xFA, 0xF4, 0xEB, 0xFC]),  # cli; hlt; jmp back to cli (after an NMI)
}


def boot_sector(kind: Literal["busy", "idle"]) -> bytes:
    """One MBR sector with the boot signature, running ``kind``'s loop."""
    code = _CODE[kind]
    return code + bytes(SECTOR - 2 - len(code)) + b"\x55\xaa"


def write_image(path: Path, kind: Literal["busy", "idle"]) -> DiskSpec:
    """Write a one-sector raw image (an unprivileged QEMU must open it: world-writable, as the
    guest's own disk) and return the disk that boots it. The guest never writes it; it is not
    read-only because libvirt refuses read-only IDE disks and SeaBIOS boots a CD-ROM only
    from an El Torito image."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(boot_sector(kind))
    path.chmod(0o666)
    return DiskSpec(source=str(path.resolve()), target="hda", bus="ide", format="raw")
