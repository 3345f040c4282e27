using System.Text;
using GovernanceLedger.Audit;

namespace GovernanceLedger.Tests.Audit;

/// <summary>The content hash verify and the chainer compute from raw column bytes is the one the README's formula gives.</summary>
public sealed class Hash_chain_tests
{
    [Fact]
    public void The_byte_level_content_hash_equals_the_canonical_strings_for_any_time_and_text()
    {
        var random = new Random(11);
        var scratch = new byte[16];
        var hash = new byte[32];
        for (var i = 0; i < 2000; i++)
        {
            var at = new DateTimeOffset(random.NextInt64(new DateTime(1990, 1, 1).Ticks, new DateTime(2100, 1, 1).Ticks) / 10 * 10, TimeSpan.Zero);
            var e = new ChainedEvent(random.NextInt64(1, long.MaxValue), $"stream-é-{i}", random.NextInt64(0, 1000), "app_registered", at,
                $$"""{"Reason": "naïve ✓ {{i}}", "n": {{random.Next()}}}""");
            HashChain.ContentHash(e.Sequence, Encoding.UTF8.GetBytes(e.StreamId), e.Version, Encoding.UTF8.GetBytes(e.Type), at.UtcDateTime,
                Encoding.UTF8.GetBytes(e.Data), ref scratch, hash);
            hash.ShouldBe(HashChain.ContentHash(e), HashChain.Canonical(e));
        }
    }

    [Fact]
    public void Format_2_covers_the_id_correlation_and_causation_ids_byte_for_byte_as_the_canonical_string_does()
    {
        var random = new Random(12);
        var scratch = new byte[16];
        var hash = new byte[32];
        string? Text(int i) => (i % 3) switch { 0 => null, 1 => "", _ => $"trace-ü|{i}:{random.Next()}" };
        for (var i = 0; i < 2000; i++)
        {
            var at = new DateTimeOffset(random.NextInt64(new DateTime(1990, 1, 1).Ticks, new DateTime(2100, 1, 1).Ticks) / 10 * 10, TimeSpan.Zero);
            var e = new ChainedEvent(random.NextInt64(1, long.MaxValue), $"stream-{i}", random.NextInt64(0, 1000), "anomaly_detected", at,
                $$"""{"n": {{random.Next()}}}""", 2, Guid.NewGuid(), Text(i), Text(i / 3));
            HashChain.ContentHash(2, e.Sequence, Encoding.UTF8.GetBytes(e.StreamId), e.Version, Encoding.UTF8.GetBytes(e.Type), at.UtcDateTime,
                e.Id.ToByteArray(bigEndian: true), Encoding.UTF8.GetBytes(e.CorrelationId ?? ""), e.CorrelationId is not null,
                Encoding.UTF8.GetBytes(e.CausationId ?? ""), e.CausationId is not null, Encoding.UTF8.GetBytes(e.Data), ref scratch, hash);
            hash.ShouldBe(HashChain.ContentHash(e), HashChain.Canonical(e));
            // Each of the three is covered: changing one changes the hash, and an absent id is not an empty one.
            HashChain.ContentHash(e with { Id = Guid.NewGuid() }).ShouldNotBe(hash);
            HashChain.ContentHash(e with { CorrelationId = (e.CorrelationId ?? "") + "x" }).ShouldNotBe(hash);
            HashChain.ContentHash(e with { CausationId = e.CausationId is null ? "" : null }).ShouldNotBe(hash);
            HashChain.ContentHash(e with { Format = 1 }).ShouldNotBe(hash);
        }
    }
}
