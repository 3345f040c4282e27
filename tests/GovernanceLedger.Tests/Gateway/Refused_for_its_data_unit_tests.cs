using GovernanceLedger.DataPlane;
using Npgsql;

namespace GovernanceLedger.Tests.Gateway;

/// <summary>
/// Which refusals of a batch of access events are one event's fault (the batch is split until that event stands alone
/// and is set aside) and which are the server's or the moment's (the batch is retried whole, losing nothing).
/// </summary>
public sealed class Refused_for_its_data_unit_tests
{
    private static PostgresException Refusal(string sqlState) => new("refused", "ERROR", "ERROR", sqlState);

    [Theory]
    [InlineData("22P02")]   // invalid text representation
    [InlineData("22P05")]   // untranslatable character (a NUL in jsonb)
    [InlineData("22003")]   // numeric value out of range
    [InlineData("23502")]   // not-null violation
    [InlineData("23514")]   // check violation
    [InlineData("54000")]   // program limit exceeded (an index row too large)
    public void A_refusal_for_what_an_event_holds_splits_the_batch(string sqlState) =>
        AccessLedger.RefusedForItsData(Refusal(sqlState)).ShouldBeTrue();

    [Theory]
    [InlineData("23505")]   // unique violation: another writer's append
    [InlineData("40001")]   // serialization failure
    [InlineData("40P01")]   // deadlock
    [InlineData("55P03")]   // lock not available
    [InlineData("57P01")]   // the server is shutting down
    [InlineData("53100")]   // disk full
    [InlineData("08006")]   // connection failure
    [InlineData("42P01")]   // a table missing: the schema, not an event
    public void Any_other_refusal_retries_the_batch_whole(string sqlState) =>
        AccessLedger.RefusedForItsData(Refusal(sqlState)).ShouldBeFalse();
}
