using GovernanceLedger.Contracts.Streaming;
using Marten.Events.Projections;

namespace GovernanceLedger.Projections.Registry;

/// <summary>A subject's versions in order, and its own compatibility level when one was set.</summary>
public sealed class RegistrySubject
{
    public string Id { get; set; } = "";
    public string? Compatibility { get; set; }
    public List<SubjectVersion> Versions { get; set; } = [];
}

public sealed record SubjectVersion(int Version, int SchemaId);

/// <summary>A distinct schema text: the same schema under several subjects shares one id, as in Confluent's registry.</summary>
public sealed class RegisteredSchema
{
    public int Id { get; set; }
    public string Fingerprint { get; set; } = "";
    public string Schema { get; set; } = "";
    public string SchemaType { get; set; } = "AVRO";
}

/// <summary>The registry-wide compatibility level.</summary>
public sealed class RegistrySettings
{
    public const string Global = "global";
    public const string DefaultCompatibility = "BACKWARD";
    public string Id { get; set; } = Global;
    public string Compatibility { get; set; } = DefaultCompatibility;
}

/// <summary>Subjects from their registrations and level changes, by the subject each event names (inline).</summary>
public partial class RegistrySubjectProjection : MultiStreamProjection<RegistrySubject, string>
{
    public RegistrySubjectProjection()
    {
        Identity<SchemaRegistered>(e => e.Subject);
        Identities<SchemaCompatibilitySet>(e => e.Subject is { } subject ? [subject] : []);
    }

    public RegistrySubject Create(SchemaRegistered e)
    {
        var subject = new RegistrySubject { Id = e.Subject };
        Apply(e, subject);
        return subject;
    }

    public RegistrySubject Create(SchemaCompatibilitySet e) => new() { Id = e.Subject!, Compatibility = e.Compatibility };

    public void Apply(SchemaRegistered e, RegistrySubject subject) => subject.Versions.Add(new SubjectVersion(e.Version, e.SchemaId));

    public void Apply(SchemaCompatibilitySet e, RegistrySubject subject) => subject.Compatibility = e.Compatibility;
}

/// <summary>Schemas by their global id: the first registration of a schema text gives it its id (inline).</summary>
public partial class RegisteredSchemaProjection : MultiStreamProjection<RegisteredSchema, int>
{
    public RegisteredSchemaProjection() => Identity<SchemaRegistered>(e => e.SchemaId);

    public RegisteredSchema Create(SchemaRegistered e) =>
        new() { Id = e.SchemaId, Fingerprint = e.Fingerprint, Schema = e.Schema, SchemaType = e.SchemaType };

    // Later registrations of the same schema (under other subjects) change nothing about it.
    public void Apply(SchemaRegistered e, RegisteredSchema schema) { }
}

/// <summary>The registry-wide level from level changes that name no subject (inline).</summary>
public partial class RegistrySettingsProjection : MultiStreamProjection<RegistrySettings, string>
{
    public RegistrySettingsProjection() => Identities<SchemaCompatibilitySet>(e => e.Subject is null ? [RegistrySettings.Global] : []);

    public RegistrySettings Create(SchemaCompatibilitySet e) => new() { Id = RegistrySettings.Global, Compatibility = e.Compatibility };

    public void Apply(SchemaCompatibilitySet e, RegistrySettings settings) => settings.Compatibility = e.Compatibility;
}
