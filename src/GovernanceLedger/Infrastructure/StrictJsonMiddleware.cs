namespace GovernanceLedger.Infrastructure;

/// <summary>
/// Control-plane requests with a body: the body must pass <see cref="StrictJson"/> before any endpoint
/// binds it, so every endpoint, hand-mapped or bound by the framework, gets the same rules. The
/// data plane reads its own bodies, because its refusals are access events.
/// </summary>
public sealed class StrictJsonMiddleware(RequestDelegate next)
{
    public const int MaxBytes = 64 * 1024;
    /// <summary>Avro schemas run larger than commands.</summary>
    public const int MaxRegistryBytes = 512 * 1024;

    public async Task InvokeAsync(HttpContext context)
    {
        var request = context.Request;
        // The console's and the development sign-in's HTML forms are not API bodies: antiforgery guards the console's.
        if (Security.AppTokenAuthentication.IsDataPlane(request.Path) || request.Path.StartsWithSegments("/console")
            || request.Path.StartsWithSegments(Security.DevelopmentSignIn.AuthorizePath))
        {
            await next(context);
            return;
        }
        if (!StrictJson.HasBody(request))
        {
            // An endpoint that binds a JSON body and got none answers with the parser's words; they are replaced below.
            // Only such endpoints are buffered: a body-less action that streams its progress is passed straight through.
            if ((HttpMethods.IsPost(request.Method) || HttpMethods.IsPut(request.Method) || HttpMethods.IsPatch(request.Method))
                && context.GetEndpoint()?.Metadata.GetMetadata<Microsoft.AspNetCore.Http.Metadata.IAcceptsMetadata>() is { RequestType: not null })
                await RewriteBindingFailuresAsync(context);
            else
                await next(context);
            return;
        }
        // The registry keeps Confluent's contract: its own media types (415 from the registry itself otherwise),
        // and every refusal with Confluent's error_code beside the problem fields.
        var registry = request.Path.StartsWithSegments("/registry");
        if (registry && !Streaming.Registry.RegistryApi.AcceptsBody(request.ContentType))
        {
            await next(context);
            return;
        }
        var limit = registry ? MaxRegistryBytes
            : request.Path.StartsWithSegments(SupplyChain.ImportAdvisories.Path) ? SupplyChain.ImportAdvisories.MaxBytes
            : MaxBytes;
        var (bytes, problem) = await StrictJson.ReadAsync(request, limit, "The request body", context.RequestAborted,
            mediaTypeChecked: registry);
        if (problem is not null)
        {
            await (registry ? Streaming.Registry.RegistryApi.Refusal(problem) : problem.ToResult()).ExecuteAsync(context);
            return;
        }
        request.Body = new MemoryStream(bytes!, writable: false);
        request.ContentLength = bytes!.Length;
        await RewriteBindingFailuresAsync(context);
    }

    /// <summary>
    /// A body that is strict JSON can still not fit the endpoint's types (a string for a number, an int that
    /// overflows). The framework's answer names internal type names; it is replaced by a problem naming the field.
    /// </summary>
    private async Task RewriteBindingFailuresAsync(HttpContext context)
    {
        var original = context.Response.Body;
        using var buffer = new MemoryStream();
        context.Response.Body = buffer;
        try
        {
            await next(context);
        }
        finally
        {
            context.Response.Body = original;
        }
        buffer.Position = 0;
        if (context.Response.StatusCode == StatusCodes.Status400BadRequest && MissingBody(buffer.ToArray()))
        {
            context.Response.Headers.ContentLength = null;
            await Problem.Invalid("", "body-required",
                "This request needs a JSON body (Content-Type: application/json), and none was sent. " +
                "Most actions take at least {\"reason\": \"...\"}; the API reference at /scalar shows each one's fields.").ToResult().ExecuteAsync(context);
            return;
        }
        if (context.Response.StatusCode == StatusCodes.Status400BadRequest && BindingFailure(buffer.ToArray()) is { } field)
        {
            context.Response.Headers.ContentLength = null;
            await Problem.Invalid(field, "type", $"'{field}' has the wrong type or is out of range for this request.").ToResult().ExecuteAsync(context);
            return;
        }
        await buffer.CopyToAsync(original, context.RequestAborted);
    }

    /// <summary>The parser's answer to an empty body.</summary>
    private static bool MissingBody(byte[] body) =>
        System.Text.Encoding.UTF8.GetString(body).Contains("does not contain any JSON tokens", StringComparison.Ordinal);

    /// <summary>The field named by a System.Text.Json conversion failure ("... Path: $.expires_in | LineNumber ..."), if that is what the body is.</summary>
    private static string? BindingFailure(byte[] body)
    {
        var text = System.Text.Encoding.UTF8.GetString(body);
        const string marker = "could not be converted to";
        if (!text.Contains(marker, StringComparison.Ordinal)) return null;
        var at = text.IndexOf("Path: $", StringComparison.Ordinal);
        if (at < 0) return "";
        var path = text[(at + "Path: $".Length)..];
        var end = path.IndexOfAny([' ', '|', '"', '\\']);
        return (end < 0 ? path : path[..end]).TrimStart('.');
    }
}
