using Confluent.Kafka;

namespace GovernanceLedger.Streaming.Kafka;

/// <summary>
/// What a publisher that saves its position after a batch (the audit relay, the CDC connectors) may count as published:
/// a message the broker holds at an offset. librdkafka also reports as delivered a message it retried and then deemed
/// written because a later request of the same producer succeeded ("implicitly acknowledged"), with no offset. A broker
/// that checks the idempotent producer's sequence numbers makes that inference sound; one that does not (librdkafka's
/// mock cluster, which the embedded mode and the tests run) may never have stored the message. Such a delivery fails the
/// batch, which is published again from the saved position: a duplicate at worst, never a gap.
/// </summary>
public static class KafkaDelivery
{
    public static async Task Confirmed<TKey>(Task<DeliveryResult<TKey, byte[]>> delivery, string topic)
    {
        var delivered = await delivery;
        if (delivered.Status != PersistenceStatus.Persisted || delivered.Offset == Offset.Unset)
            throw new KafkaException(new Error(ErrorCode.Unknown,
                $"The broker did not confirm an offset for a message to {topic} ({delivered.Status}, offset {delivered.Offset}); the batch is published again"));
    }
}
