"""Tags reach the stream agents' policies: a stored policy that selects by tag (tags live in
PostgreSQL, set through the API) applies to a VM's vertical scaling, read with the policies by
streams.fleet_view. Real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from novacron.actuators.connection import Fleet
from novacron.autoscaler.live import default_vcpu_policy, vcpu_policy
from novacron.serving.client import ForecastClient
from novacron.store import fleet as fleet_store
from novacron.store import models
from novacron.streams import runtime
from novacron.streams.fleet_view import _Cached
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from novacron.events import AutonomyMode, utcnow


@pytest.fixture
def names(sessions: sessionmaker[Session]) -> Iterator[tuple[str, str, str]]:
    suffix = uuid.uuid4().hex[:8]
    tagged, plain, pol = f"vm-tagged-{suffix}", f"vm-plain-{suffix}", f"gold-{suffix}"
    tag = f"gold-{suffix}"
    with sessions.begin() as s:
        for vm, tags in ((tagged, [tag, "eu"]), (plain, [])):
            s.add(models.VM(vm_id=vm, host_id=None, vcpus=2, memory_mib=2048, labels={"app": "web"},
                            tags=tags, state="running", updated_at=utcnow()))
        fleet_store.upsert_policy(s, pol, 100, {
            "name": pol, "priority": 100, "selector": {"matchTags": [tag]},
            "autonomy": {"scale_vcpu": "approve"}}, "test")
    before = runtime._current
    runtime.install(runtime.Runtime(fleet=Fleet([]), sessions=sessions,
                                    forecasts=ForecastClient("http://127.0.0.1:9", 0.1)))
    yield tagged, plain, pol
    runtime._current = before
    with sessions.begin() as s:
        s.execute(delete(models.VM).where(models.VM.vm_id.in_([tagged, plain])))
        fleet_store.delete_policy(s, pol)


def test_a_policy_selecting_a_tag_reaches_the_tagged_vm_only(names: tuple[str, str, str]) -> None:
    tagged, plain, pol = names
    cache = _Cached()
    pset = asyncio.run(cache.policy_set())
    assert pset is not None
    assert cache.tags_of(tagged) >= {"eu"} and cache.tags_of(plain) == frozenset()
    base = default_vcpu_policy()
    got = vcpu_policy(base, pset.effective({"app": "web"}, cache.tags_of(tagged)))
    assert got.mode is AutonomyMode.APPROVE and got.name == pol
    # The same labels without the tag: the stored policy does not apply.
    assert vcpu_policy(base, pset.effective({"app": "web"}, cache.tags_of(plain))) is base
