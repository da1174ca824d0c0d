"""The Faust app and its topics. Agents live in their own modules (see streams.main)."""

from __future__ import annotations

import faust

from novacron import topics as registry
from novacron.settings import get_settings

settings = get_settings()

_FAUST_DIR = settings.state_dir / "faust" / settings.consumer_group
_FAUST_DIR.mkdir(parents=True, exist_ok=True)  # Faust creates only the last level

app = faust.App(
    settings.consumer_group,
    broker=f"kafka://{settings.kafka_bootstrap}",
    store="memory://",
    # Faust creates "<id>-data" in the working directory unless told otherwise; keep it in the state folder.
    datadir=str(_FAUST_DIR),
    value_serializer="raw",
    topic_partitions=settings.topic_partitions,
    web_enabled=False,
    autodiscover=False,
    consumer_auto_offset_reset=settings.consumer_offset_reset,
    # Tansu has no idempotent producer: at-least-once plus idempotent effects (DESIGN §3).
    processing_guarantee="at_least_once",
    # Agents take batches and ack them together; a commit (which first flushes the producer)
    # per 100 acks would stall the fetch loop several times per batch.
    broker_commit_every=10_000,
    broker_commit_interval=1.0,
    # Features and changelog writes leave in batches: without linger each send was its own
    # produce request of a few KB, and the producer, not the agents, bounded throughput.
    producer_linger=0.01,
    producer_max_batch_size=524_288,
    # While an agent processes a batch its stream takes nothing; a deep channel queue lets
    # the fetcher keep filling it meanwhile (4,096 by default, under one batch).
    stream_buffer_maxsize=32_768,
    # A host's metric batch is ~27 KB: at the default 1 MB per partition a fetch brought ~37
    # of them, and the fetch loop, not the agents, bounded throughput (takes came back after
    # their 0.5 s wait holding ~300 messages). 8 MB x 4 partitions stays far below what a
    # rebalance needs to drain.
    consumer_max_fetch_size=8 * 1024**2,
    table_cleanup_interval=60.0,
    # A dead member is noticed within seconds, so a restarted worker resumes quickly.
    broker_session_timeout=10.0,
    # Tansu can hold an idle fetch until the request timeout; keep shutdown short.
    broker_request_timeout=12.0,
    broker_heartbeat_interval=2.0,
    broker_rebalance_timeout=15.0,
    # Do not wait for in-flight events on shutdown: redelivery is safe (idempotent effects).
    stream_wait_empty=False,
    # A broker that lost a changelog (a restarted memory engine) leaves the restored offset
    # past the recreated topic's end; Faust's check would stop the worker at the next
    # rebalance. Tables live in memory here, so nothing local is stale: streams.broker_watch
    # notices the reset, says what was lost and carries on.
    recovery_consistency_check=False,
)


def _topic(spec: registry.TopicSpec) -> faust.TopicT:
    return app.topic(spec.name, value_serializer="raw", key_serializer="raw",
                     partitions=settings.topic_partitions)


# Tables hold plain JSON (the app's default serializer is raw bytes for the event topics).
JSON_SCHEMA = faust.Schema(key_serializer="json", value_serializer="json")

metrics_raw = _topic(registry.METRICS_RAW)
features_topic = _topic(registry.FEATURES)
# CPU features of VMs in a group, keyed by group id (see streams.decide_group).
group_features_topic = _topic(registry.GROUP_FEATURES)
forecasts_topic = _topic(registry.FORECASTS)
decisions_topic = _topic(registry.DECISIONS)
actions_topic = _topic(registry.ACTIONS)
health_topic = _topic(registry.HEALTH)
deadletter_topic = _topic(registry.DEADLETTER)
