"""A VM's vertical policy: what a stored policy sets for it wins over the runtime's, and what
only the built-in defaults fill never does."""

from __future__ import annotations

from novacron.autoscaler.live import default_vcpu_policy, vcpu_policy
from novacron.policy import Policy, PolicySet
from novacron.policy.schema import PROFILES, AutoScalingProfile

from novacron.events import AutonomyMode


def policy(**spec: object) -> Policy:
    return Policy.model_validate({"name": "web-tier", "selector": {"matchLabels": {"app": "web"}}, **spec})


def test_no_matching_policy_keeps_the_runtime_policy() -> None:
    base = default_vcpu_policy()
    assert vcpu_policy(base, None) is base
    eff = PolicySet([policy(rules={"autoScaling": "aggressive"})]).effective({"app": "db"})
    assert vcpu_policy(base, eff) is base


def test_a_policy_that_sets_nothing_vertical_only_names_itself() -> None:
    base = default_vcpu_policy()
    eff = PolicySet([policy(rules={"maxReplicas": 4})]).effective({"app": "web"})
    got = vcpu_policy(base, eff)
    assert got.name == "web-tier" and (got.mode, got.profile, got.target) == (base.mode, base.profile, base.target)


def test_autonomy_profile_and_delay_come_from_the_policy() -> None:
    base = default_vcpu_policy()
    eff = PolicySet([policy(rules={"autoScaling": "conservative", "scaleDownDelay": "20m"},
                            autonomy={"scale_vcpu": "approve"})]).effective({"app": "web"})
    got = vcpu_policy(base, eff)
    assert got.mode is AutonomyMode.APPROVE and got.profile is AutoScalingProfile.CONSERVATIVE
    assert got.scale_down_delay_s == 1200.0
    # The VM's own limits and timing stay the runtime's.
    assert (got.min_replicas, got.max_replicas, got.lead_time_s) == (base.min_replicas, base.max_replicas,
                                                                    base.lead_time_s)


def test_a_profile_without_a_delay_brings_the_profiles_delay() -> None:
    eff = PolicySet([policy(rules={"autoScaling": "aggressive"})]).effective({"app": "web"})
    got = vcpu_policy(default_vcpu_policy(), eff)
    assert got.scale_down_delay_s == PROFILES[AutoScalingProfile.AGGRESSIVE].scale_down_delay_s


def test_the_autonomy_default_of_a_policy_covers_scale_vcpu() -> None:
    eff = PolicySet([policy(autonomy={"default": "recommend"})]).effective({"app": "web"})
    assert vcpu_policy(default_vcpu_policy(), eff).mode is AutonomyMode.RECOMMEND
