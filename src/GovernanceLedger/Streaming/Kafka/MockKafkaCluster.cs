using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;

namespace GovernanceLedger.Streaming.Kafka;

/// <summary>
/// librdkafka's built-in mock Kafka cluster: real brokers on localhost ports speaking the Kafka protocol,
/// held in memory. It backs the embedded development mode and the tests; it is not durable.
/// Topics are created through its own API because it does not implement CreateTopics.
/// </summary>
public sealed partial class MockKafkaCluster : IDisposable
{
    private const string Library = "librdkafka";
    private const int TopicAlreadyExists = 36;
    private IntPtr _handle;
    private IntPtr _cluster;
    private readonly Lock _gate = new();

    static MockKafkaCluster()
    {
        NativeLibrary.SetDllImportResolver(typeof(MockKafkaCluster).Assembly, Resolve);
    }

    public MockKafkaCluster(int brokers = 1)
    {
        var conf = rd_kafka_conf_new();
        var error = new StringBuilder(512);
        // The cluster's own client never connects anywhere; its "no bootstrap.servers" notice would only confuse.
        if (rd_kafka_conf_set(conf, "log_level", "4", error, (UIntPtr)error.Capacity) != 0)
            throw new InvalidOperationException($"librdkafka refused a setting for the mock cluster's client: {error}");
        _handle = rd_kafka_new(1, conf, error, (UIntPtr)error.Capacity);
        if (_handle == IntPtr.Zero)
            throw new InvalidOperationException($"librdkafka refused to create the mock cluster's client: {error}");
        _cluster = rd_kafka_mock_cluster_new(_handle, brokers);
        if (_cluster == IntPtr.Zero)
            throw new InvalidOperationException("librdkafka could not start a mock Kafka cluster.");
        BootstrapServers = Marshal.PtrToStringAnsi(rd_kafka_mock_cluster_bootstraps(_cluster))
            ?? throw new InvalidOperationException("The mock Kafka cluster reported no bootstrap address.");
        Brokers = brokers;
    }

    public string BootstrapServers { get; }
    public int Brokers { get; }

    public void CreateTopic(string topic, int partitions, int replicationFactor = 1)
    {
        lock (_gate)
        {
            var code = rd_kafka_mock_topic_create(Live(), topic, partitions, replicationFactor);
            if (code != 0 && code != TopicAlreadyExists) throw new InvalidOperationException($"The mock cluster refused to create topic '{topic}': librdkafka error {code}.");
        }
    }

    /// <summary>The next <paramref name="count"/> requests of this Kafka API (0 = Produce, 1 = Fetch) fail with <paramref name="errorCode"/>.</summary>
    public void FailNextRequests(short apiKey, int count, int errorCode)
    {
        var errors = Enumerable.Repeat(errorCode, count).ToArray();
        lock (_gate) rd_kafka_mock_push_request_errors_array(Live(), apiKey, (UIntPtr)count, errors);
    }

    public void SetBrokerDown(int brokerId)
    {
        lock (_gate) Check(rd_kafka_mock_broker_set_down(Live(), brokerId), "take broker down");
    }

    public void SetBrokerUp(int brokerId)
    {
        lock (_gate) Check(rd_kafka_mock_broker_set_up(Live(), brokerId), "bring broker up");
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_cluster != IntPtr.Zero) rd_kafka_mock_cluster_destroy(_cluster);
            if (_handle != IntPtr.Zero) rd_kafka_destroy(_handle);
            _cluster = _handle = IntPtr.Zero;
        }
    }

    private IntPtr Live() => _cluster != IntPtr.Zero ? _cluster : throw new ObjectDisposedException(nameof(MockKafkaCluster));

    private static void Check(int code, string what)
    {
        if (code != 0) throw new InvalidOperationException($"The mock cluster could not {what}: librdkafka error {code}.");
    }

    /// <summary>The generic librdkafka.so needs libsasl2.so.3, missing on Debian; the CentOS 8 build loads there.</summary>
    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? path)
    {
        if (name != Library) return IntPtr.Zero;
        var native = Path.Combine(AppContext.BaseDirectory, "runtimes", RuntimeInformation.RuntimeIdentifier.StartsWith("osx") ? "osx-x64" : "linux-x64", "native");
        foreach (var candidate in new[] { "librdkafka.so", "centos8-librdkafka.so", "librdkafka.dylib" })
        {
            var file = Path.Combine(native, candidate);
            if (File.Exists(file) && NativeLibrary.TryLoad(file, out var handle)) return handle;
        }
        return NativeLibrary.TryLoad(name, assembly, path, out var fallback) ? fallback : IntPtr.Zero;
    }

    [LibraryImport(Library)] private static partial IntPtr rd_kafka_conf_new();
    [DllImport(Library)] private static extern int rd_kafka_conf_set(IntPtr conf, string name, string value, StringBuilder errstr, UIntPtr errstrSize);
    [DllImport(Library)] private static extern IntPtr rd_kafka_new(int type, IntPtr conf, StringBuilder errstr, UIntPtr errstrSize);
    [LibraryImport(Library)] private static partial void rd_kafka_destroy(IntPtr rk);
    [LibraryImport(Library)] private static partial IntPtr rd_kafka_mock_cluster_new(IntPtr rk, int brokerCount);
    [LibraryImport(Library)] private static partial void rd_kafka_mock_cluster_destroy(IntPtr cluster);
    [LibraryImport(Library)] private static partial IntPtr rd_kafka_mock_cluster_bootstraps(IntPtr cluster);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int rd_kafka_mock_topic_create(IntPtr cluster, string topic, int partitions, int replicationFactor);
    [LibraryImport(Library)]
    private static partial void rd_kafka_mock_push_request_errors_array(IntPtr cluster, short apiKey, UIntPtr count, int[] errors);
    [LibraryImport(Library)] private static partial int rd_kafka_mock_broker_set_down(IntPtr cluster, int brokerId);
    [LibraryImport(Library)] private static partial int rd_kafka_mock_broker_set_up(IntPtr cluster, int brokerId);
}
