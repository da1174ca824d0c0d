"""The stream worker as a process of its own, for bench.faults (which kills it with SIGKILL):
``python -m bench.fault_worker INVENTORY READY_FILE [SESSION_TIMEOUT_S]``.

It opens the inventory's hosts, installs the runtime and runs the Faust worker in the
foreground, as ``novacron worker`` does, but leaves the hosts table alone (the bench records
its own hosts) and writes READY_FILE once the worker consumes (partitions assigned, tables
recovered), so the bench can time a restart. SESSION_TIMEOUT_S shortens the consumer
group's session timeout (the app's default is 10 s): a SIGKILLed member's partitions are
handed on only once the broker gives it up, and the bench kills it twenty times.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path


def main() -> None:
    inventory, ready = Path(sys.argv[1]), Path(sys.argv[2])
    from novacron.actuators.inventory_fleet import open_fleet
    from novacron.streams.main import app
    from novacron.streams.worker import build_runtime

    from novacron.inventory import load_inventory
    from novacron.settings import get_settings

    if len(sys.argv) > 3:
        session_timeout_s = float(sys.argv[3])
        with warnings.catch_warnings():
            # Faust warns that the app has read these once; the consumer, made later, reads
            # them again.
            warnings.simplefilter("ignore")
            app.conf.broker_session_timeout = session_timeout_s
            app.conf.broker_heartbeat_interval = min(app.conf.broker_heartbeat_interval,
                                                     session_timeout_s / 4)
    build_runtime(get_settings(), open_fleet(load_inventory(inventory)))

    @app.timer(interval=0.2)  # type: ignore[untyped-decorator]
    async def say_ready() -> None:
        if (not ready.exists() and app.tables.recovery.completed.is_set()
                and not app.rebalancing and app.consumer.assignment()):
            ready.write_text("ready\n")

    sys.argv = [sys.argv[0], "worker", "--loglevel", "warn"]
    app.main()


if __name__ == "__main__":
    main()
