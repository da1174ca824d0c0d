"""The worker's entry point: the app with every agent registered (``novacron.streams.main:app``)."""

from __future__ import annotations

import novacron.streams.broker_watch  # noqa: F401  (its timer: a broker that lost its topics)
from novacron.streams import actuate, decide, decide_group, features, gc_tuning, heal, outbox_relay, record
from novacron.streams.app import app

AGENTS = (features.feature_agent, decide.decision_agent, actuate.actuator_agent,
          record.recorder_agent, heal.heal_agent, decide_group.group_scaler, outbox_relay.outbox_relay)


@app.task  # type: ignore[misc]
async def tune_gc() -> None:
    """Once the worker has started: see streams.gc_tuning (half the feature agent's CPU was
    the collector's)."""
    gc_tuning.apply()


__all__ = ["AGENTS", "app"]
