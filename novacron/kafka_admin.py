"""Create the registry's topics explicitly, with the configured partition count."""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from novacron.settings import Settings
from novacron.topics import ALL_TOPICS


async def ensure_topics(settings: Settings, attempts: int = 20) -> list[str]:
    """Create missing topics; returns the names created. Safe to call repeatedly."""
    for attempt in range(attempts):
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        try:
            await admin.start()
            break
        except KafkaConnectionError:
            await admin.close()
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.25)
    try:
        existing = set(await admin.list_topics())
        missing = [t.name for t in ALL_TOPICS if t.name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([
                    NewTopic(name, num_partitions=settings.topic_partitions, replication_factor=1)
                    for name in missing
                ])
        return missing
    finally:
        await admin.close()
