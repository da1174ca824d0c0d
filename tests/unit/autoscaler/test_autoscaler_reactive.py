"""The HPA baseline follows the Kubernetes algorithm."""

from __future__ import annotations

from novacron.autoscaler.reactive import HpaConfig, HpaState, hpa_desired

CFG = HpaConfig(target=0.7, max_replicas=50)


def test_desired_is_ceil_current_times_utilisation_over_target() -> None:
    n, _ = hpa_desired(0, 9.0, 10, 10, HpaState(), CFG)  # 90 % -> ceil(10 * 0.9 / 0.7) = 13
    assert n == 13


def test_within_tolerance_nothing_moves() -> None:
    n, _ = hpa_desired(0, 7.5, 10, 10, HpaState(), CFG)
    assert n == 10


def test_scale_down_waits_for_the_stabilisation_window() -> None:
    state = HpaState()
    n, state = hpa_desired(0, 9.0, 10, 10, state, CFG)
    n, state = hpa_desired(60, 2.0, 13, 13, state, CFG)
    assert n == 13  # the 13 of a minute ago is still in the 5-minute window
    n, state = hpa_desired(400, 2.0, 13, 13, state, CFG)
    assert n < 13


def test_recommendation_is_over_the_ready_units() -> None:
    # Kubernetes: ceil(usage ratio x ready pods); 3 ready at 90 % (2 more booting would not help
    # them measure): the ratio over all 5 units is 2.7 / 5 / 0.7 = 0.77 < 1, so nothing is added.
    n, _ = hpa_desired(0, 2.7, 3, 5, HpaState(), CFG)
    assert n == 5


def test_booting_units_count_as_idle_on_a_scale_up() -> None:
    # 9 units of demand on 5 ready + 5 booting: over all 10, 0.9 / 0.7 -> ceil(10 * 1.29) = 13,
    # not ceil(10 * 1.8 / 0.7) = 26 (what counting the booting units as busy as the ready ones
    # would order, again at every sync until they serve).
    n, _ = hpa_desired(0, 9.0, 5, 10, HpaState(), CFG)
    assert n == 13


def test_a_ramp_does_not_reorder_what_is_booting() -> None:
    state = HpaState()
    n, state = hpa_desired(0, 9.0, 10, 10, state, CFG)
    assert n == 13
    n, state = hpa_desired(60, 9.5, 10, 13, state, CFG)  # still booting: 9.5 / 13 / 0.7 = 1.04
    assert n == 13
