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
