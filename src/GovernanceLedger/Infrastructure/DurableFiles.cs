using System.Runtime.InteropServices;

namespace GovernanceLedger.Infrastructure;

/// <summary>
/// Files that must survive a power cut once written: the key store's keys and the chain's witness
/// checkpoints. Data is fsync'd, and so is the directory, because a new name is only durable once
/// its directory entry is.
/// </summary>
public static partial class DurableFiles
{
    public const UnixFileMode OwnerReadWrite = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    public const UnixFileMode ReadOnly = UnixFileMode.UserRead | UnixFileMode.GroupRead;

    /// <summary>Writes a file that must not exist yet (FileMode.CreateNew): nothing is ever overwritten by it.</summary>
    public static void WriteNew(string path, ReadOnlySpan<byte> content, UnixFileMode mode)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = mode;
        using (var stream = new FileStream(path, options))
        {
            stream.Write(content);
            stream.Flush(flushToDisk: true);
        }
        FsyncDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    /// <summary>Replaces a file atomically: a reader sees the old content or the new, never half of either.</summary>
    public static void Replace(string path, ReadOnlySpan<byte> content, UnixFileMode mode)
    {
        var temporary = path + ".tmp";
        File.Delete(temporary);   // left by a crash between write and rename
        WriteNew(temporary, content, mode);
        File.Move(temporary, path, overwrite: true);
        FsyncDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    public static void FsyncDirectory(string directory)
    {
        if (!OperatingSystem.IsLinux()) return;   // elsewhere FlushFileBuffers on the file is what the platform offers
        var fd = Open(directory, 0 /* O_RDONLY */);
        if (fd < 0) throw new IOException($"Cannot open {directory} to fsync it (errno {Marshal.GetLastPInvokeError()}).");
        try
        {
            if (Fsync(fd) != 0) throw new IOException($"fsync of {directory} failed (errno {Marshal.GetLastPInvokeError()}).");
        }
        finally
        {
            _ = Close(fd);
        }
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
