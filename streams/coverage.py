"""What became of each feature vector a decision agent evaluated: a forecast, or an explicit
fallback with its reason (pure: no Faust, no I/O).

Every live CPU or memory vector the vertical decision agent reads ends in exactly one
outcome: ``forecast`` (the served model's forecast went to the rule), ``fallback`` with a
reason (``history_short``, ``serving_timeout``, ``serving_down``, ``serving_rejected``,
``forecast_invalid``: the reactive rule decided, and the decision says why), or ``skipped``
with a reason (``already_decided``: a window delivered again after a restart, whose decision
was made before it; ``group_member``: the group agent scales it). The counts are kept per
process (``COUNTS``) and each outcome is written to the time-series DB as one point (``n=1``,
tagged vm_id, metric, outcome, reason) at the vector's event time, so
``sum(count_over_time(novacron_forecast_outcome_n[1h])) by (outcome, reason)`` shows them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

MEASUREMENT = "novacron_forecast_outcome"
FORECAST = "forecast"
FALLBACK = "fallback"
SKIPPED = "skipped"
READ = "read"  # every live CPU or memory vector the agent decoded (the denominator)
ALREADY_DECIDED = "already_decided"
GROUP_MEMBER = "group_member"

# (outcome, reason) -> vectors, since this process started.
COUNTS: Counter[tuple[str, str]] = Counter()


def fallback_reason(why: str) -> str:
    """The reason code of a fallback's explanation (the text the decision carries)."""
    text = why.lower()
    if text.startswith("history too short"):
        return "history_short"
    if text.startswith("serving unavailable"):
        return "serving_timeout" if "timeout" in text else "serving_down"
    if text.startswith("serving rejected"):
        return "serving_rejected"
    return "forecast_invalid"


def count(outcome: str, reason: str = "") -> tuple[str, str]:
    key = (outcome, reason)
    COUNTS[key] += 1
    return key


def coverage_pct(counts: Mapping[tuple[str, str], int]) -> float | None:
    """(forecast + explicit fallback) / the vectors read that needed a decision (all read
    but the skipped), in %; None before the first. Below 100 means vectors went without
    either (an agent that died between reading and deciding: they are read again)."""
    def total(outcome: str) -> int:
        return sum(n for (o, _), n in counts.items() if o == outcome)

    needed = total(READ) - total(SKIPPED)
    return 100.0 * (total(FORECAST) + total(FALLBACK)) / needed if needed > 0 else None
