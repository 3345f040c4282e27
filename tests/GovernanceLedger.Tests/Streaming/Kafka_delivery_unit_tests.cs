using Confluent.Kafka;
using GovernanceLedger.Streaming.Kafka;

namespace GovernanceLedger.Tests.Streaming;

/// <summary>A publisher counts a message as published only when the broker names the offset that holds it.</summary>
public sealed class Kafka_delivery_unit_tests
{
    private static Task<DeliveryResult<string, byte[]>> Delivered(PersistenceStatus status, long offset) =>
        Task.FromResult(new DeliveryResult<string, byte[]>
        {
            Status = status,
            TopicPartitionOffset = new TopicPartitionOffset("governance.audit.v1", new Partition(0), new Offset(offset))
        });

    [Fact]
    public async Task A_message_the_broker_holds_at_an_offset_is_published() =>
        await KafkaDelivery.Confirmed(Delivered(PersistenceStatus.Persisted, 41), "governance.audit.v1");

    [Fact]
    public async Task An_implicitly_acknowledged_message_without_an_offset_fails_its_batch()
    {
        var failure = await Should.ThrowAsync<KafkaException>(() => KafkaDelivery.Confirmed(Delivered(PersistenceStatus.Persisted, Offset.Unset.Value), "governance.audit.v1"));
        failure.Message.ShouldContain("did not confirm an offset");
    }

    [Fact]
    public async Task A_message_possibly_not_persisted_fails_its_batch() =>
        await Should.ThrowAsync<KafkaException>(() => KafkaDelivery.Confirmed(Delivered(PersistenceStatus.PossiblyPersisted, 7), "governance.audit.v1"));
}
