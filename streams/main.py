"""The worker's entry point: the app with every agent registered (``novacron.streams.main:app``)."""

from __future__ import annotations

from novacron.streams import actuate, decide, decide_group, features, heal, record
from novacron.streams.app import app

AGENTS = (features.feature_agent, decide.decision_agent, actuate.actuator_agent,
          record.recorder_agent, heal.heal_agent, decide_group.group_scaler)

__all__ = ["AGENTS", "app"]
