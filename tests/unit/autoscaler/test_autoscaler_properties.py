"""Property: whatever the load, forecast and state, no decision breaks min/max replicas, and a
predictive scale-up is the smallest size that fits its bound."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from novacron.autoscaler.policy import ScalingPolicy
from novacron.autoscaler.rules import decide_group
from novacron.autoscaler.types import ForecastView, GroupState, Observation

units = st.floats(min_value=0, max_value=500, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(
    profile=st.sampled_from(["conservative", "moderate", "aggressive"]),
    lo=st.integers(0, 10),
    span=st.integers(0, 40),
    ready=st.integers(0, 60),
    pending=st.integers(0, 10),
    demand=units,
    path=st.lists(st.tuples(units, units), min_size=1, max_size=40),
    with_forecast=st.booleans(),
    extra_down=st.none() | units,
    last_up=st.none() | st.floats(0, 5000),
    last_down=st.none() | st.floats(0, 5000),
    low_since=st.none() | st.floats(0, 5000),
)
def test_no_decision_breaks_min_max(
    profile: str, lo: int, span: int, ready: int, pending: int, demand: float,
    path: list[tuple[float, float]], with_forecast: bool, extra_down: float | None,
    last_up: float | None,
    last_down: float | None, low_since: float | None,
) -> None:  # fmt: skip
    pol = ScalingPolicy.from_profile(profile, min_replicas=lo, max_replicas=lo + span)
    point = tuple(p for p, _ in path)
    upper = tuple(p + w for p, w in path)
    # Sometimes a higher bound for scale-downs, as the simulator and the live agent may give.
    down = None if extra_down is None else tuple(u + extra_down for u in upper)
    view = ForecastView(point, upper, 60.0, upper_down=down, level_down=0.9) if with_forecast else None
    state = GroupState(last_up, last_down, low_since)
    out = decide_group("g", Observation(5000.0, demand, ready, pending), view, state, pol)
    d = out.decision
    if d is not None:
        assert pol.min_replicas <= d.desired <= pol.max_replicas
        assert d.desired != d.current
        inside = pol.min_replicas <= d.current <= pol.max_replicas
        if inside and d.direction.value == "up" and view is not None and d.desired < pol.max_replicas:
            # the smallest size that keeps the bound (and demand) within the scale-up threshold
            # and the point within the target, and at least one more unit
            lead = view.steps(pol.lead_time_s)
            up, pt = max(max(upper[:lead]), demand), max(max(point[:lead]), demand)
            assert up <= pol.scale_up_threshold * d.desired + 1e-6 and pt <= pol.target * d.desired + 1e-6
            smaller = d.desired - 1
            if smaller > d.current:
                assert up > pol.scale_up_threshold * smaller + 1e-9 or pt > pol.target * smaller + 1e-9
        if inside and d.direction.value == "down":
            # never into predicted load: over the boot time plus the scale-down delay (or the
            # horizon) the bound, and measured demand, stay at the target or under
            window = max(pol.horizon_s, pol.lead_time_s + pol.scale_down_delay_s)
            kept = down or upper
            bound = max(demand, max(kept[: view.steps(window)]) if view else demand)
            assert d.desired >= min(d.current, bound / pol.target - 1e-6)
