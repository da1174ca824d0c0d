"""Closing a host whose connect is blocked on a silent daemon returns at once, and the
connecting thread closes what it opened rather than keep it."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

from novacron.actuators.connection import ActuatorError, HostConnection


def test_close_does_not_hang_on_a_blocked_connect(tmp_path: Path) -> None:
    path = tmp_path / "silent.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(4)  # accepts (the kernel's backlog) and never answers: a wedged daemon
    host = HostConnection("silent", f"qemu+unix:///system?socket={path}")
    errors: list[BaseException] = []

    def connect() -> None:
        try:
            host.get()
        except ActuatorError as exc:
            errors.append(exc)

    t = threading.Thread(target=connect, daemon=True)
    t.start()
    time.sleep(0.3)  # the connect now holds the lock, blocked in libvirt
    assert t.is_alive()
    started = time.monotonic()
    host.close(wait_s=0.5)
    assert time.monotonic() - started < 2.0
    server.close()  # the blocked connect fails now; it must not keep a connection
    t.join(30)
    assert not t.is_alive()
    assert host._conn is None
    assert errors, "the blocked connect should have failed"


def test_close_then_get_reconnects_normally(tmp_path: Path) -> None:
    xml = tmp_path / "h.xml"
    from novacron.actuators.xml import HostSpec, NumaCell, host_xml

    xml.write_text(host_xml(HostSpec("h", 4, 4096, (NumaCell(4, 4096),))))
    host = HostConnection("h", f"test://{xml}")
    assert host.get().getInfo()[2] == 4
    host.close()
    assert host._conn is None
    assert host.get().getInfo()[2] == 4
    host.close()
    assert host._conn is None
