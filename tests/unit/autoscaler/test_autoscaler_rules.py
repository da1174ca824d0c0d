"""Each rule of the autoscaler, one case at a time."""

from __future__ import annotations

import pytest
from novacron.autoscaler.accuracy import AccuracyTracker
from novacron.autoscaler.events import to_event
from novacron.autoscaler.policy import ScalingPolicy
from novacron.autoscaler.rules import decide_group, decide_vcpus
from novacron.autoscaler.types import Direction, ForecastView, GroupState, Observation, Rule
from novacron.policy.schema import PROFILES, AutoScalingProfile

from novacron.events import ActionKind, Decision

POL = ScalingPolicy.from_profile("moderate", min_replicas=1, max_replicas=20, lead_time_s=300,
                                 horizon_s=1800)  # fmt: skip


def fc(point: list[float], upper: list[float] | None = None) -> ForecastView:
    return ForecastView(tuple(point), tuple(upper or [p * 1.2 for p in point]), 60.0, 0.8, "t")


def test_profiles_come_from_the_policy_table() -> None:
    for prof in AutoScalingProfile:
        n = PROFILES[prof]
        p = ScalingPolicy.from_profile(prof)
        assert (p.target, p.scale_up_threshold, p.scale_down_threshold) == (
            n.target_utilization,
            n.scale_up_threshold,
            n.scale_down_threshold,
        )
        assert p.scale_down_delay_s == n.scale_down_delay_s and p.max_step == n.max_step


def test_scale_up_before_the_load_when_the_upper_bound_crosses_within_lead_time() -> None:
    # Demand is 3 of 5 replicas (60 %): no reactive rule would move; the bound says 6 is coming.
    f = fc([3, 3, 4, 5, 5.5, 5.5] + [3] * 24, [3.5, 3.5, 5, 6, 6.5, 6.5] + [3.5] * 24)
    out = decide_group("g", Observation(0, 3.0, 5), f, GroupState(), POL)
    d = out.decision
    assert d is not None and d.direction is Direction.UP and d.rule is Rule.PREDICTIVE
    assert d.desired >= 7  # point 5.5 at the 70 % target -> 8, bound 6.5 within capacity
    assert "upper bound" in d.explanation and "policy" in d.explanation and "cost" in d.explanation
    assert d.cost_delta_per_hour == pytest.approx((d.desired - 5) * POL.cost.on_demand_per_hour)


def test_scale_up_keeps_the_bound_within_the_capacity_and_the_point_within_the_target() -> None:
    # Moderate: target 70 %, scale-up threshold 80 %. A wide bound sizes the step:
    # 8.5 within 100 % -> 9 replicas (the point, 5.5 / 0.7 -> 8, would need fewer).
    wide = fc([5.5] * 30, [8.5] * 30)
    d = decide_group("g", Observation(0, 3.0, 5), wide, GroupState(), POL).decision
    assert d is not None and d.direction is Direction.UP and d.desired == 9
    assert "bound within 100 % and point within 70%" in d.explanation
    # A narrow bound leaves the point to size it: 6.0 / 0.7 -> 9 (the bound alone: 6.2 -> 7).
    narrow = fc([6.0] * 30, [6.2] * 30)
    d = decide_group("g", Observation(0, 3.0, 5), narrow, GroupState(), POL).decision
    assert d is not None and d.desired == 9
    assert "point forecast above 80%" in d.explanation
    # The new size does not trigger another scale-up once its replicas are booting.
    after = decide_group("g", Observation(POL.scale_up_cooldown_s, 3.0, 5, pending=4), narrow,
                         GroupState(last_up_s=0.0), POL)  # fmt: skip
    assert after.decision is None


def test_the_bound_triggers_a_scale_up_only_past_the_capacity() -> None:
    # Point 3.5 of 5 (70 %, under the 80 % threshold): a bound of 4.8 is served by 5 replicas,
    # so nothing moves; a bound of 5.6 says the group would saturate within the lead time.
    assert decide_group("g", Observation(0, 3.0, 5), fc([3.5] * 30, [4.8] * 30), GroupState(),
                        POL).decision is None  # fmt: skip
    d = decide_group("g", Observation(0, 3.0, 5), fc([3.5] * 30, [5.6] * 30), GroupState(),
                     POL).decision  # fmt: skip
    assert d is not None and d.direction is Direction.UP and d.rule is Rule.PREDICTIVE
    assert d.desired == 6 and "80% bound above 100 % of 5 replicas" in d.explanation
    # Measured demand past the threshold moves it whatever the forecast says (the guard).
    d = decide_group("g", Observation(0, 4.5, 5), fc([3.5] * 30, [4.0] * 30), GroupState(),
                     POL).decision  # fmt: skip
    assert d is not None and d.rule is Rule.GUARD and "measured demand above 80%" in d.explanation


def test_peak_beyond_the_lead_time_does_not_trigger_a_scale_up() -> None:
    f = fc([3] * 10 + [9] * 20, [3.3] * 10 + [10] * 20)
    assert decide_group("g", Observation(0, 3.0, 5), f, GroupState(), POL).decision is None


def test_scale_down_withheld_because_the_upper_bound_says_load_returns() -> None:
    # Load is low now and for the next 20 min, but the bound says it comes back within 30 min.
    f = fc([1.0] * 20 + [8.0] * 10, [1.2] * 20 + [9.0] * 10)
    state = GroupState()
    for t in range(0, 3600, 60):
        out = decide_group("g", Observation(float(t), 1.0, 10), f, state, POL)
        assert out.decision is None
        state = out.state
    assert state.low_since_s is None


def test_scale_down_only_after_the_delay_and_never_below_the_bound() -> None:
    f = fc([2.0] * 30, [2.5] * 30)
    state = GroupState()
    first_down = None
    for t in range(0, 3600, 60):
        out = decide_group("g", Observation(float(t), 2.0, 10), f, state, POL)
        state = out.state
        if out.decision is not None:
            first_down = out.decision
            break
    assert first_down is not None and first_down.direction is Direction.DOWN
    assert first_down.at_s >= POL.scale_down_delay_s
    # Straight to the size that holds the bound at the target: ceil(2.5 / 0.7) = 4.
    assert first_down.desired == 4
    assert first_down.cost_delta_per_hour < 0
    assert "bound has fitted in fewer than 10 replicas" in first_down.explanation


def test_a_bursty_series_bound_withholds_the_scale_down_the_lean_one_makes() -> None:
    # After a burst: the lean 90 % scale-down bound says 2.5 units within the window, the
    # bursty series' 97 % bound says the burst may be back (7.5 units): 10 -> 4 for the lean
    # one, never below ceil(7.5 / 0.7) = 11 for the bursty one, so no scale-down at all.
    def view(down: float, level: float, note: str | None) -> ForecastView:
        return ForecastView((2.0,) * 30, (2.4,) * 30, 60.0, 0.8, "t", upper_down=(down,) * 30,
                            level_down=level, down_note=note)  # fmt: skip

    lean = view(2.5, 0.9, None)
    safe = view(7.5, 0.97, "bursty series")
    outs = {}
    for name, f in (("lean", lean), ("safe", safe)):
        state, got = GroupState(), None
        for t in range(0, 3600, 60):
            out = decide_group("g", Observation(float(t), 2.0, 10), f, state, POL)
            state, got = out.state, out.decision or got
            if got is not None:
                break
        outs[name] = got
    assert outs["lean"] is not None and outs["lean"].desired == 4
    assert "at 90%" in outs["lean"].explanation
    assert outs["safe"] is None
    # When the bursty bound still allows a cut, the explanation says which bound and why.
    d = None
    state = GroupState()
    for t in range(0, 3600, 60):
        out = decide_group("g", Observation(float(t), 2.0, 10), view(5.0, 0.97, "bursty series"),
                           state, POL)  # fmt: skip
        state, d = out.state, out.decision
        if d is not None:
            break
    assert d is not None and d.desired == 8 and "at 97% (bursty series)" in d.explanation


def test_reactive_scale_down_moves_at_most_max_step() -> None:
    state = GroupState()
    down = None
    for t in range(0, 3600, 60):
        out = decide_group("g", Observation(float(t), 1.0, 10), None, state, POL)
        state = out.state
        if out.decision is not None:
            down = out.decision
            break
    assert down is not None and down.direction is Direction.DOWN and down.rule is Rule.REACTIVE
    assert down.desired == 10 - POL.max_step


def test_cooldown_blocks_a_second_scale_up() -> None:
    f = fc([9.0] * 30, [10.0] * 30)
    state = GroupState(last_up_s=0.0)
    assert decide_group("g", Observation(60.0, 4.0, 4), f, state, POL).decision is None
    later = decide_group("g", Observation(POL.scale_up_cooldown_s, 4.0, 4), f, state, POL)
    assert later.decision is not None


def test_min_and_max_replicas_hold() -> None:
    f = fc([100.0] * 30, [120.0] * 30)
    d = decide_group("g", Observation(0, 50.0, 10), f, GroupState(), POL).decision
    assert d is not None and d.desired == POL.max_replicas
    d2 = decide_group("g", Observation(0, 0.0, 25), None, GroupState(), POL).decision
    assert d2 is not None and d2.desired == POL.max_replicas
    low = fc([0.0] * 30, [0.0] * 30)
    assert decide_group("g", Observation(9999, 0.0, 1), low, GroupState(low_since_s=0), POL).decision is None


def test_reactive_fallback_without_forecast_says_so() -> None:
    d = decide_group("g", Observation(0, 4.5, 5), None, GroupState(), POL).decision
    assert d is not None and d.rule is Rule.REACTIVE and "no forecast" in d.explanation


def test_reactive_fallback_on_poor_accuracy_ignores_the_forecast() -> None:
    tr = AccuracyTracker(window=20, min_samples=10)
    for _ in range(20):
        tr.record(point=1.0, upper=1.2, naive=5.0, actual=5.0)
    reason = tr.poor_reason()
    assert reason is not None and "accuracy poor" in reason
    calm = fc([1.0] * 30, [1.2] * 30)  # the forecast would say: nothing to do
    d = decide_group("g", Observation(0, 4.6, 5), calm, GroupState(), POL, reason).decision
    assert d is not None and d.rule is Rule.REACTIVE and "accuracy poor" in d.explanation


def test_guard_scales_up_when_measured_load_exceeds_the_forecast() -> None:
    d = decide_group("g", Observation(0, 4.8, 5), fc([1.0] * 30), GroupState(), POL).decision
    assert d is not None and d.rule is Rule.GUARD and d.direction is Direction.UP


def test_spot_where_policy_allows_and_cost_delta_stated() -> None:
    pol = ScalingPolicy.from_profile("moderate", max_replicas=20, spot_allowed=True,
                                     spot_max_fraction=0.5)  # fmt: skip
    d = decide_group("g", Observation(0, 7.5, 4), fc([8.0] * 30), GroupState(), pol).decision
    assert d is not None and d.spot_after > 0 and d.spot_after <= d.desired * 0.5
    expected = ((d.desired - d.spot_after) * 1.0 + d.spot_after * 0.3) - 4 * 1.0
    assert d.cost_delta_per_hour == pytest.approx(expected)
    assert "spot" in d.explanation


def test_decisions_become_events() -> None:
    d = decide_group("web", Observation(1_700_000_000, 4.8, 5), fc([6.0] * 30), GroupState(),
                     POL).decision  # fmt: skip
    assert d is not None
    ev = to_event(d)
    assert isinstance(ev, Decision) and ev.action is ActionKind.SCALE_OUT
    assert ev.target_kind == "group" and ev.params["replicas"] == d.desired
    assert ev.params["cost_delta_per_hour"] == d.cost_delta_per_hour
    assert ev.trigger["rule"] == d.rule.value and ev.alternatives
    assert Decision.model_validate_json(ev.to_bytes()) == ev


def test_vertical_decision_is_a_vcpu_resize() -> None:
    pol = ScalingPolicy.from_profile("moderate", min_replicas=1, max_replicas=8, lead_time_s=60)
    d = decide_vcpus("vm-1", Observation(0, 1.9, 2), fc([1.9] * 30), GroupState(), pol).decision
    assert d is not None and d.vertical
    ev = to_event(d)
    assert ev.action is ActionKind.SCALE_VCPU and ev.params["vcpus"] == d.desired > 2


def test_scale_down_respects_the_higher_bound_when_one_is_given() -> None:
    # The 80 % bound says 4 replicas would do; the bound for scale-downs says 9 units may come.
    f = ForecastView((2.0,) * 30, (2.5,) * 30, 60.0, 0.8, "t", upper_down=(9.0,) * 30, level_down=0.95)
    state = GroupState()
    downs = []
    for t in range(0, 3600, 60):
        out = decide_group("g", Observation(float(t), 2.0, 14), f, state, POL)
        state = out.state
        if out.decision is not None:
            downs.append(out.decision)
            break
    assert downs and downs[0].desired == 13  # ceil(9 / 0.7), not ceil(2.5 / 0.7)
    assert "at 95%" in downs[0].explanation
