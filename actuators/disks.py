"""A clone's disks: copy-on-write overlays of its source's image, never its source's files.

Replicas of a group are instances of one image. A source's writable disk is an overlay of
that image (a qcow2 with a backing file); the clone gets an overlay of its own on the same
image, made through libvirt's storage API in the image's pool on the target host (so it works
on a remote host, given a pool the image is in: shared storage such as NFS). Writing to the
source's writable layer instead, as clones did before, corrupts both disks on real KVM; the
source's writes are its own state and are not copied (horizontal replicas are stateless).
Read-only disks and CD-ROMs are shared as they are. Overlays are named ``<clone>-<target>``,
so executing a decision again finds them, and removing the clone deletes exactly those.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

import libvirt
from novacron.actuators.connection import ActuatorError
from novacron.actuators.xml import DiskSpec


def overlay_name(clone: str, disk: DiskSpec) -> str:
    return f"{clone}-{disk.target}.qcow2"


def _shared(disk: DiskSpec) -> bool:
    """Read-only media: the clone uses the source's file as it is."""
    return disk.readonly or disk.device == "cdrom"


def _backing(vol: libvirt.virStorageVol) -> tuple[str, str] | None:
    """(path, format) of a volume's backing image, or None for a standalone image."""
    root = ET.fromstring(vol.XMLDesc(0))  # noqa: S314 - libvirt's own XML
    path = root.findtext("backingStore/path")
    if not path:
        return None
    fmt = root.find("backingStore/format")
    return path, (fmt.get("type") if fmt is not None else None) or "raw"


def _overlay_xml(name: str, capacity: int, backing: str, backing_format: str) -> str:
    return (f"<volume><name>{escape(name)}</name><capacity unit='bytes'>{int(capacity)}</capacity>"
            f"<target><format type='qcow2'/></target><backingStore><path>{escape(backing)}</path>"
            f"<format type='{escape(backing_format)}'/></backingStore></volume>")


def clone_disks(conn: libvirt.virConnect, clone: str, disks: tuple[DiskSpec, ...],
                ) -> tuple[DiskSpec, ...]:
    """The clone's disks on the host of ``conn`` (idempotent: an overlay made before is reused)."""
    out = []
    for disk in disks:
        if _shared(disk):
            out.append(disk)
            continue
        try:
            vol = conn.storageVolLookupByPath(disk.source)
        except libvirt.libvirtError:
            raise ActuatorError(
                f"clone {clone}: disk {disk.source} ({disk.target}) is in no storage pool of the "
                f"target host; define a pool there that holds it (shared storage) so the clone "
                f"gets a copy-on-write overlay: a clone never writes to its source's disk") from None
        backing = _backing(vol)
        if backing is None:
            raise ActuatorError(
                f"clone {clone}: disk {disk.source} ({disk.target}) is a standalone writable image "
                f"with no backing image to build on; give the group's VMs disks that are overlays "
                f"of an image (qcow2 with a backing file), or clone by hand")
        pool = vol.storagePoolLookupByVolume()
        name = overlay_name(clone, disk)
        try:
            overlay = pool.storageVolLookupByName(name)
        except libvirt.libvirtError:
            overlay = pool.createXML(_overlay_xml(name, vol.info()[1], *backing), 0)
        out.append(disk.model_copy(update={"source": overlay.path(), "format": "qcow2"}))
    return tuple(out)


def delete_overlays(conn: libvirt.virConnect, clone: str, disks: tuple[DiskSpec, ...]) -> list[str]:
    """Delete the overlays :func:`clone_disks` made for ``clone`` (and nothing else: a disk not
    named for it is left); the paths deleted."""
    gone = []
    for disk in disks:
        if _shared(disk):
            continue
        try:
            vol = conn.storageVolLookupByPath(disk.source)
        except libvirt.libvirtError:
            continue  # not in a pool, or deleted already
        if vol.name() != overlay_name(clone, disk):
            continue
        vol.delete(0)
        gone.append(disk.source)
    return gone
