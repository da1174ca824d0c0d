"""The worker's entry point: the app with every agent registered (``novacron.streams.main:app``)."""

from __future__ import annotations

from novacron.streams import actuate, decide, features, heal, record
from novacron.streams.app import app

AGENTS = (features.feature_agent, decide.decision_agent, actuate.actuator_agent,
          record.recorder_agent, heal.heal_agent)

__all__ = ["AGENTS", "app"]
