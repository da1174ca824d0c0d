"""The lost-topic proof on the real broker: a message already read is still there on a healthy
broker, even where its end offset reads short of it; an offset beyond anything written is not."""

from __future__ import annotations

import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from novacron.streams.offset_probe import missing
from novacron.streams.offsets import past_end

from novacron.settings import Settings


async def test_a_read_message_is_found_and_a_never_written_one_is_not(settings: Settings) -> None:
    bootstrap = settings.kafka_bootstrap
    topic = f"nc-probe-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=50)
    await producer.start()
    try:  # one produced batch of 12 records
        sent = [await producer.send(topic, f"m{i}".encode()) for i in range(12)]
        offsets = [(await f).offset for f in sent]
    finally:
        await producer.stop()
    tp = TopicPartition(topic, 0)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        end = (await consumer.end_offsets([tp]))[tp]
    finally:
        await consumer.stop()
    held = offsets[-1] + 1  # a consumer that read everything
    if past_end({tp: held}, {tp: end}):
        # The broker's end offset fell short of its last batch (Tansu does): the offset check
        # alone would call this healthy topic lost; the probe must not.
        assert end < held
    assert await missing(bootstrap, [(tp, offsets[-1])]) == set()
    assert await missing(bootstrap, [(tp, held + 100)]) == {tp}
