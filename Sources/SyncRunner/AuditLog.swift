#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// The audit log (SPEC §11, I8): one JSON line per write attempted on either side,
/// appended to a file that only its owner can read.
///
/// Lines are buffered by ``append(_:)`` and written and fsync'd by ``flush()``, which the
/// runner calls at the end of each batch, before it commits the snapshot and the cursor:
/// a run that advanced its cursor has its writes on disk in the audit log. The format is
/// described with `AuditJSON` (AuditJSON.swift).
///
/// **Callers must flush.** `deinit` only closes the file: lines appended since the last
/// flush are lost, and a run that throws halfway through a batch should flush what it
/// attempted before it gives up (the writes happened; their lines belong in the log).
/// Flushing from `deinit` would have to swallow its error, and a write that may not have
/// reached the audit log is not to be silent (I8).
///
/// Several processes may share one file (jobs split by base DN, SPEC §13): each write of
/// buffered lines holds an exclusive `flock`, so lines never interleave.
///
/// Not thread-safe: one run owns one log.
public final class AuditLog {
    /// The file, as given.
    public let path: String
    private let descriptor: Int32
    /// Complete lines not yet written, in order.
    private var pending: [UInt8] = []
    /// Whether bytes were written since the last fsync.
    private var unsynced = false
    /// A failed fsync: after one, Linux may report later fsyncs as successful although the
    /// earlier data was dropped, so every later call fails with the first error.
    private var failure: AuditLogError?
    /// Buffered bytes past which ``append(_:)`` writes (without fsync) to bound memory.
    private let writeThreshold: Int

    /// Opens the audit log at `path` for appending, creating it with mode 0600, and its
    /// missing parent directories with mode 0700, if needed (SPEC §12).
    ///
    /// - Throws: ``AuditLogError``: `.exposed` if the existing file is readable or writable
    ///   by its group or others (its description gives the `chmod` to run; an audit line
    ///   can name people and, for a misconfigured attribute, values; a log others can write
    ///   is no record), `.notRegularFile`, or the failed system call and its `errno`.
    public convenience init(path: String) throws(AuditLogError) {
        try self.init(path: path, writeThreshold: 1 << 20)
    }

    init(path: String, writeThreshold: Int) throws(AuditLogError) {
        try Self.createDirectories(Self.parentDirectory(of: path))
        self.descriptor = try Self.openFile(path)
        self.path = path
        self.writeThreshold = writeThreshold
    }

    /// A log on a descriptor the caller opened, which it hands over (closed by `deinit`):
    /// for tests, which need files that fail on demand (`/dev/full`, `/dev/null`).
    init(descriptor: Int32, path: String, writeThreshold: Int = 1 << 20) {
        self.descriptor = descriptor
        self.path = path
        self.writeThreshold = writeThreshold
    }

    deinit {
        close(descriptor)
    }

    /// A new run id: 16 random lowercase hex digits.
    public static func newRunID() -> String {
        var generator = SystemRandomNumberGenerator()
        let hex = String(generator.next() as UInt64, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// Buffers `record` as one line. The line reaches the file at the next ``flush()``, or
    /// earlier when more than a megabyte is buffered.
    ///
    /// - Throws: ``AuditLogError`` if an earlier fsync failed, or if writing the buffer
    ///   failed; the record stays buffered for the next ``flush()``.
    public func append(_ record: AuditRecord) throws(AuditLogError) {
        if let failure { throw failure }
        AuditJSON.appendLine(record, to: &pending)
        if pending.count >= writeThreshold {
            try writePending()
        }
    }

    /// Buffers the complete lines `body` appends to the buffer (as ``append(_:)`` does
    /// with a record's line), for callers that write lines as bytes: `AppChangeLines`.
    func appendLines(_ body: (inout [UInt8]) -> Void) throws(AuditLogError) {
        if let failure { throw failure }
        body(&pending)
        if pending.count >= writeThreshold {
            try writePending()
        }
    }

    /// Writes the buffered lines and fsyncs the file; returns once they are on disk.
    ///
    /// - Throws: ``AuditLogError`` for a failed write, with the lines not completely
    ///   written kept for the next flush (a line cut short by the failure is rewritten
    ///   whole on a line of its own), or for a failed fsync, after which every call fails.
    public func flush() throws(AuditLogError) {
        if let failure { throw failure }
        try writePending()
        guard unsynced else { return }
        while fsync(descriptor) != 0 {
            let code = errno
            if code == EINTR { continue }
            let error = AuditLogError(path: path, reason: .system(.sync, code: code))
            failure = error
            throw error
        }
        unsynced = false
    }

    /// Writes the buffered lines without an fsync: for a log of lines written ahead
    /// (``appendContents(of:)``), which is never the record itself.
    func writeBuffered() throws(AuditLogError) {
        if let failure { throw failure }
        try writePending()
    }

    /// Appends the lines of `other`, a file of complete lines written ahead by this run
    /// (``EarlyAppApply``), after this log's own buffered lines. The kernel copies them
    /// (`copy_file_range`; `pread`/`pwrite` where it cannot, as across file systems),
    /// under the lock ``append(_:)``'s writes take; they are on disk after the next
    /// ``flush()``.
    ///
    /// - Throws: ``AuditLogError`` for a failed write or copy. Lines copied before the
    ///   failure stay in the file, like the lines of a failed write of the buffer (a line
    ///   cut short is ended by the next write).
    func appendContents(of other: AuditLog) throws(AuditLogError) {
        if let failure { throw failure }
        try other.writeBuffered()
        try writePending()
        while flock(descriptor, LOCK_EX) != 0 {
            let code = errno
            if code == EINTR { continue }
            throw AuditLogError(path: path, reason: .system(.lock, code: code))
        }
        defer { flock(descriptor, LOCK_UN) }
        // A line cut short at the end is ended first, as ``writePending()`` does.
        if try endsWithTornLine() {
            pending = [Self.newline]
            try writeAll()
        }

        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw AuditLogError(path: path, reason: .system(.inspect, code: errno)) }
        var target = status.st_size
        guard fstat(other.descriptor, &status) == 0 else {
            throw AuditLogError(path: other.path, reason: .system(.inspect, code: errno))
        }
        let count = status.st_size
        guard count > 0 else { return }
        // copy_file_range and pwrite write at an offset, which O_APPEND would override
        // (copy_file_range refuses it): off for the copy, under the lock.
        let flags = fcntl(descriptor, F_GETFL)
        guard flags >= 0, fcntl(descriptor, F_SETFL, flags & ~O_APPEND) == 0 else {
            throw AuditLogError(path: path, reason: .system(.write, code: errno))
        }
        defer { _ = fcntl(descriptor, F_SETFL, flags) }
        var source: off_t = 0
        var copies = true
        var buffer: [UInt8] = []
        while source < count {
            let copied: Int
            if copies {
                copied = copy_file_range(other.descriptor, &source, descriptor, &target, Int(count - source), 0)
            } else {
                if buffer.isEmpty { buffer = [UInt8](repeating: 0, count: 1 << 20) }
                let read = buffer.withUnsafeMutableBytes { pread(other.descriptor, $0.baseAddress, $0.count, source) }
                guard read > 0 else {
                    throw AuditLogError(path: other.path, reason: .system(.inspect, code: read < 0 ? errno : EIO))
                }
                var written = 0
                while written < read {
                    let count = buffer.withUnsafeBytes { pwrite(descriptor, $0.baseAddress! + written, read - written, target) }
                    if count > 0 {
                        written += count
                        target += off_t(count)
                        unsynced = true
                        continue
                    }
                    let code = count < 0 ? errno : EIO
                    if code == EINTR { continue }
                    throw AuditLogError(path: path, reason: .system(.write, code: code))
                }
                source += off_t(read)
                continue
            }
            if copied > 0 {
                unsynced = true
                continue
            }
            let code = copied < 0 ? errno : EIO
            if code == EINTR { continue }
            // Not between these files (another file system, an old kernel): copied here.
            if copies, [EXDEV, EINVAL, ENOSYS, EOPNOTSUPP].contains(code) {
                copies = false
                continue
            }
            throw AuditLogError(path: path, reason: .system(.write, code: code))
        }
    }

    /// The number of bytes buffered, for tests.
    var pendingByteCount: Int { pending.count }

    // MARK: - Writing

    private func writePending() throws(AuditLogError) {
        guard !pending.isEmpty else { return }
        while flock(descriptor, LOCK_EX) != 0 {
            let code = errno
            if code == EINTR { continue }
            throw AuditLogError(path: path, reason: .system(.lock, code: code))
        }
        var outcome: Result<Void, AuditLogError> = .success(())
        do throws(AuditLogError) {
            try terminateTornLine()
            try writeAll()
        } catch {
            outcome = .failure(error)
        }
        let unlocked = flock(descriptor, LOCK_UN) == 0 ? 0 : errno
        try outcome.get()
        guard unlocked == 0 else { throw AuditLogError(path: path, reason: .system(.lock, code: unlocked)) }
    }

    /// Starts the buffered lines on a line of their own when the file does not end with a
    /// newline: a line cut short by a crash, a full disk or a failed write then spoils only
    /// itself, and every line after it still parses.
    private func terminateTornLine() throws(AuditLogError) {
        guard pending.first != Self.newline else { return }
        if try endsWithTornLine() {
            pending.insert(Self.newline, at: 0)
        }
    }

    /// Whether the file is not empty and does not end with a newline.
    private func endsWithTornLine() throws(AuditLogError) -> Bool {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw AuditLogError(path: path, reason: .system(.inspect, code: errno))
        }
        guard status.st_size > 0 else { return false }
        var last: UInt8 = 0
        while true {
            let count = pread(descriptor, &last, 1, status.st_size - 1)
            if count == 1 { break }
            let code = count < 0 ? errno : EIO
            if code == EINTR { continue }
            throw AuditLogError(path: path, reason: .system(.inspect, code: code))
        }
        return last != Self.newline
    }

    /// Writes all of `pending`, through short writes and `EINTR`. On failure, drops the
    /// lines written completely and keeps the rest, including a line written in part.
    private func writeAll() throws(AuditLogError) {
        var written = 0
        while written < pending.count {
            let count = pending.withUnsafeBytes { bytes in
                write(descriptor, bytes.baseAddress! + written, bytes.count - written)
            }
            if count > 0 {
                written += count
                unsynced = true
                continue
            }
            // `write` returns 0 for a non-empty buffer only on odd files; retrying could
            // loop for ever, so it is an I/O error.
            let code = count < 0 ? errno : EIO
            if code == EINTR { continue }
            if let end = pending[..<written].lastIndex(of: Self.newline) {
                pending.removeSubrange(...end)
            }
            throw AuditLogError(path: path, reason: .system(.write, code: code))
        }
        pending.removeAll(keepingCapacity: true)
    }

    private static let newline = UInt8(ascii: "\n")

    // MARK: - Opening

    /// Opens for reading too: ``terminateTornLine()`` reads the last byte. A file created
    /// here has its directory entry fsync'd, so that a flushed line cannot vanish with it.
    private static func openFile(_ path: String) throws(AuditLogError) -> Int32 {
        var descriptor: Int32
        var created = true
        while true {
            descriptor = open(path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            if descriptor >= 0 { break }
            guard errno == EEXIST || errno == EINTR else {
                throw AuditLogError(path: path, reason: .system(.open, code: errno))
            }
            if errno == EINTR { continue }
            descriptor = open(path, O_RDWR | O_APPEND | O_CLOEXEC)
            if descriptor >= 0 {
                created = false
                break
            }
            // Removed between the two calls: create it after all.
            guard errno == ENOENT || errno == EINTR else {
                throw AuditLogError(path: path, reason: .system(.open, code: errno))
            }
        }
        // Checked on the open descriptor, so the file checked is the file written.
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            let code = errno
            close(descriptor)
            throw AuditLogError(path: path, reason: .system(.inspect, code: code))
        }
        guard status.st_mode & S_IFMT == S_IFREG else {
            close(descriptor)
            throw AuditLogError(path: path, reason: .notRegularFile)
        }
        let permissions = UInt32(status.st_mode) & 0o7777
        guard permissions & 0o066 == 0 else {
            close(descriptor)
            throw AuditLogError(path: path, reason: .exposed(mode: permissions))
        }
        if created {
            do throws(AuditLogError) {
                try syncDirectory(parentDirectory(of: path))
            } catch {
                close(descriptor)
                throw error
            }
        }
        return descriptor
    }

    /// Creates `directory` and its missing parents with mode 0700; existing ones are left
    /// as they are.
    private static func createDirectories(_ directory: String) throws(AuditLogError) {
        var status = stat()
        if stat(directory, &status) == 0 { return }
        guard errno == ENOENT else {
            throw AuditLogError(path: directory, reason: .system(.createDirectory, code: errno))
        }
        let parent = parentDirectory(of: directory)
        if parent != directory {
            try createDirectories(parent)
        }
        if mkdir(directory, 0o700) == 0 {
            try syncDirectory(parent)
        } else if errno != EEXIST {
            throw AuditLogError(path: directory, reason: .system(.createDirectory, code: errno))
        }
    }

    /// fsyncs a directory, making the entries created in it durable.
    private static func syncDirectory(_ directory: String) throws(AuditLogError) {
        var descriptor: Int32
        repeat {
            descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        } while descriptor < 0 && errno == EINTR
        guard descriptor >= 0 else {
            throw AuditLogError(path: directory, reason: .system(.syncDirectory, code: errno))
        }
        defer { close(descriptor) }
        while fsync(descriptor) != 0 {
            guard errno == EINTR else {
                throw AuditLogError(path: directory, reason: .system(.syncDirectory, code: errno))
            }
        }
    }

    /// `/var/log/ldapsync` for `/var/log/ldapsync/audit.jsonl`, `/` for `/audit.jsonl`,
    /// `.` for `audit.jsonl`.
    static func parentDirectory(of path: String) -> String {
        var bytes = Array(path.utf8)
        while bytes.count > 1, bytes.last == UInt8(ascii: "/") { bytes.removeLast() }
        guard let slash = bytes.lastIndex(of: UInt8(ascii: "/")) else { return "." }
        var end = slash
        while end > 0, bytes[end - 1] == UInt8(ascii: "/") { end -= 1 }
        return end == 0 ? "/" : String(decoding: bytes[..<end], as: UTF8.self)
    }
}

@available(*, unavailable)
extension AuditLog: Sendable {}
