internal import CLMDB

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#elseif canImport(Darwin)
internal import Darwin
#endif

/// An open LMDB environment: one directory holding `data.mdb` and `lock.mdb`.
///
/// The environment owns the `MDB_env` handle and closes it in `deinit`. Everything else
/// (transactions, cursors) is scoped to closures passed to ``read(_:)`` and ``write(_:)``.
///
/// ## Threading
///
/// An `Environment` and its transactions are **not** thread-safe and are not `Sendable`:
/// use an environment from one thread or task at a time (ldapsync's callers are
/// synchronous). The environment is opened with `MDB_NOTLS`, so a read transaction is not
/// tied to the thread that began it; a write transaction is, which is why the closures are
/// synchronous: the writer lock is released by the thread that took it.
///
/// Do not open two `Environment`s on the same directory in one process at the same time:
/// LMDB's locks are per process, and closing one would release the other's lock (see
/// `mdb_env_open`). Other processes may use the directory concurrently.
///
/// ## Map size
///
/// LMDB maps the data file into memory at a fixed size. ``write(_:)`` grows that map on
/// demand (see there); ``init(path:mapSize:maxDatabases:)`` only sets its starting size.
public final class Environment {
    /// The environment directory as given to the initializer.
    public let path: String

    /// 64 MiB: several snapshots of a mid-sized directory before the first growth.
    public static let defaultMapSize = 64 << 20
    public static let defaultMaxDatabases = 16

    let handle: OpaquePointer
    /// Opened with `durable: true` (``init(path:mapSize:maxDatabases:durable:)``).
    private let durable: Bool
    /// Transactions of this environment that are currently open (read and write). The
    /// map may only be resized when this is zero: a resize remaps the file and would
    /// invalidate every pointer an open transaction has handed out.
    private var openTransactions = 0
    private var writeTransactionOpen = false
    /// The first `MDB_MAP_FULL` returned inside the current write transaction, recorded
    /// even if the closure catches it, so that the transaction is retried and not
    /// committed in its failed state.
    private var mapFullInCurrentWrite: LMDBError?
    /// Set when a resize failed: LMDB has then unmapped the old map and the handle must
    /// not be used for another transaction.
    private var unusable: LMDBError?
    /// Where data.mdb is mapped, found once by ``releaseMappedPages()``; forgotten by
    /// every remap (``resizeMap(to:)``), the only thing that moves the map.
    private var mappedRanges: [(Int, Int)]?

    /// Opens (and if needed creates) the environment in directory `path`.
    ///
    /// The directory is created with mode 0700 when it does not exist (its parent must
    /// exist); an existing directory is used as it is. Data files are created with mode
    /// 0600. Reader slots left behind by dead processes are cleared.
    ///
    /// - Parameters:
    ///   - mapSize: the initial size of the memory map in bytes. It only needs to be a
    ///     reasonable start: writes grow it as needed, and an existing environment keeps
    ///     at least the size its data needs.
    ///   - maxDatabases: how many named databases ``database(named:)`` may open.
    ///   - durable: `false` opens the environment with `MDB_NOSYNC | MDB_NOMETASYNC`:
    ///     commits are not flushed to disk, so a system crash may lose or damage recent
    ///     data. Only for scratch data that is thrown away after a crash anyway.
    /// - Throws: ``LMDBError``.
    public init(path: String, mapSize: Int = Environment.defaultMapSize, maxDatabases: Int = Environment.defaultMaxDatabases,
                durable: Bool = true) throws {
        guard mapSize > 0 else {
            throw LMDBError(operation: "mdb_env_set_mapsize", code: .invalidArgument, path: path)
        }
        guard let maxDatabases = MDB_dbi(exactly: maxDatabases) else {
            throw LMDBError(operation: "mdb_env_set_maxdbs", code: .invalidArgument, path: path)
        }
        try Self.createDirectory(path)
        self.handle = try Self.open(path: path, mapSize: mapSize, maxDatabases: maxDatabases, durable: durable)
        self.durable = durable
        self.path = path
    }

    deinit {
        mdb_env_close(handle)
    }

    private static func createDirectory(_ path: String) throws {
        let rc = mkdir(path, 0o700) == 0 ? 0 : errno
        if rc == EEXIST { return }
        try check(rc, "mkdir", path: path)
    }

    /// Creates, configures and opens the `MDB_env`, closing it again if any step fails
    /// (`mdb_env_open` requires `mdb_env_close` after a failure).
    private static func open(path: String, mapSize: Int, maxDatabases: MDB_dbi, durable: Bool) throws -> OpaquePointer {
        var created: OpaquePointer?
        try check(mdb_env_create(&created), "mdb_env_create", path: path)
        guard let env = created else { preconditionFailure("mdb_env_create succeeded without a handle") }
        var opened = false
        defer { if !opened { mdb_env_close(env) } }

        try check(mdb_env_set_mapsize(env, mapSize), "mdb_env_set_mapsize", path: path)
        try check(mdb_env_set_maxdbs(env, maxDatabases), "mdb_env_set_maxdbs", path: path)
        let flags = UInt32(MDB_NOTLS) | (durable ? 0 : UInt32(MDB_NOSYNC) | UInt32(MDB_NOMETASYNC))
        try check(mdb_env_open(env, path, flags, 0o600), "mdb_env_open", path: path)
        try checkNotTruncated(env, path: path)
        var dead: Int32 = 0
        try check(mdb_reader_check(env, &dead), "mdb_reader_check", path: path)
        opened = true
        return env
    }

    /// A `data.mdb` shorter than the pages its meta page says are in use was truncated
    /// (a copy cut short, a full disk during a restore): LMDB would read the missing pages
    /// through the memory map and the process would die of SIGBUS. An error instead.
    private static func checkNotTruncated(_ env: OpaquePointer, path: String) throws {
        var info = MDB_envinfo()
        var statistics = MDB_stat()
        try check(mdb_env_info(env, &info), "mdb_env_info", path: path)
        try check(mdb_env_stat(env, &statistics), "mdb_env_stat", path: path)
        var file = stat()
        guard stat(path + "/data.mdb", &file) == 0 else { return }
        let needed = (Int(info.me_last_pgno) + 1) * Int(statistics.ms_psize)
        guard Int(file.st_size) < needed else { return }
        var error = LMDBError(operation: "check the size of data.mdb", code: .corrupted, path: path)
        error.message = "data.mdb is \(file.st_size) bytes, shorter than the \(needed) bytes its pages in use need: the file was truncated"
        throw error
    }

    /// Flushes every committed write to disk (`mdb_env_sync` with force), also in an
    /// environment opened with `durable: false`: its scratch data then survives a system
    /// crash from this point on.
    public func sync() throws {
        try check(mdb_env_sync(handle, 1), "mdb_env_sync", path: path)
    }

    /// Runs `body` with the commits it makes flushing their data but not waiting for
    /// their meta page to reach the disk (`MDB_NOMETASYNC`; each commit's flush takes the
    /// meta page of the one before with it). A system crash can then undo the last of
    /// those commits, never damage the data. For a series of commits that is redone
    /// after a crash anyway, whose last commit comes after `body` and is flushed in full
    /// (the state commit: its in-flight record says it is unfinished until then).
    /// Nothing changes in an environment opened with `durable: false`.
    public func withoutMetaSync<R>(_ body: () throws -> R) throws -> R {
        guard durable else { return try body() }
        try check(mdb_env_set_flags(handle, UInt32(MDB_NOMETASYNC), 1), "mdb_env_set_flags", path: path)
        defer { mdb_env_set_flags(handle, UInt32(MDB_NOMETASYNC), 0) }
        return try body()
    }

    /// Whether commits currently leave their meta page unflushed (`MDB_NOMETASYNC`:
    /// inside ``withoutMetaSync(_:)``, or always when opened with `durable: false`).
    var defersMetaSync: Bool {
        var flags: UInt32 = 0
        mdb_env_get_flags(handle, &flags)
        return flags & UInt32(MDB_NOMETASYNC) != 0
    }

    /// Drops this process's mapping of the map's pages (`madvise(MADV_DONTNEED)`): they
    /// stay in the page cache and come back on the next access. Without `MDB_WRITEMAP` the
    /// map is a read-only shared file mapping, so nothing is lost; a long run calls this
    /// between batches so that the pages it read do not all count in its resident size.
    public func releaseMappedPages() {
        for (start, end) in currentMappings() {
            _ = madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, MADV_DONTNEED)
        }
    }

    /// The address ranges of this environment's map. LMDB does not tell where it mapped
    /// the file (`me_mapaddr` is only set with MDB_FIXEDMAP), so they are looked up in
    /// /proc/self/maps, once per map: a long run releases pages thousands of times, and
    /// reading that file each time cost 3% of a full run of 1,000,000 users.
    public func currentMappings() -> [(Int, Int)] {
        if let mappedRanges { return mappedRanges }
        guard let file = realpath(path + "/data.mdb", nil) else { return [] }
        defer { free(file) }
        let ranges = Self.mappings(of: String(cString: file))
        if !ranges.isEmpty { mappedRanges = ranges }
        return ranges
    }

    /// The address ranges at which this process maps `file` (from /proc/self/maps).
    public static func mappings(of file: String) -> [(Int, Int)] {
        let descriptor = Glibc.open("/proc/self/maps", O_RDONLY)
        guard descriptor >= 0 else { return [] }
        defer { _ = Glibc.close(descriptor) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            bytes += buffer[..<count]
        }
        var ranges: [(Int, Int)] = []
        // Each line: "START-END PERMS OFFSET DEV INODE   PATH".
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            guard let slash = line.firstIndex(of: UInt8(ascii: "/")),
                  String(decoding: line[slash...], as: UTF8.self) == file,
                  let dash = line.firstIndex(of: UInt8(ascii: "-")),
                  let space = line.firstIndex(of: UInt8(ascii: " ")), dash < space,
                  let start = Int(String(decoding: line[..<dash], as: UTF8.self), radix: 16),
                  let end = Int(String(decoding: line[line.index(after: dash)..<space], as: UTF8.self), radix: 16)
            else { continue }
            ranges.append((start, end))
        }
        return ranges
    }

    /// The current size of the memory map in bytes.
    public var mapSize: Int {
        get throws {
            var info = MDB_envinfo()
            try check(mdb_env_info(handle, &info), "mdb_env_info", path: path)
            return info.me_mapsize
        }
    }

    /// Opens the named database, creating it if it does not exist, in a write transaction
    /// of its own.
    ///
    /// The handle stays valid for the life of this environment and may be used in any
    /// transaction begun after this call returned. Databases are opened here rather than
    /// inside a caller's transaction because LMDB closes a handle opened in a transaction
    /// that aborts, which would leave the caller holding a dangling handle.
    ///
    /// Must not be called inside ``write(_:)`` (LMDB has one writer at a time).
    /// - Throws: ``LMDBError`` (`.databasesFull` when more than `maxDatabases` are opened).
    public func database(named name: String) throws -> Database {
        try write { txn in try txn.openDatabase(named: name) }
    }

    /// ``database(named:)`` for several names, in one transaction: one commit (and, in a
    /// durable environment, one fsync) instead of one each.
    public func databases(named names: [String]) throws -> [Database] {
        try write { txn in try names.map { name in try txn.openDatabase(named: name) } }
    }

    /// Runs `body` in a read-only transaction and returns its result.
    ///
    /// The transaction sees the data as of its beginning, whatever is written meanwhile.
    /// It ends (is aborted, which for a reader is the same as committing) when `body`
    /// returns or throws; an error thrown by `body` is rethrown unchanged.
    ///
    /// `body` receives the transaction borrowed: it cannot be stored or copied, and bytes
    /// read through it are copied out (``Transaction/get(_:in:)``) or only lent for the
    /// duration of a nested closure (``Transaction/withValue(_:in:_:)``).
    public func read<R>(_ body: (borrowing ReadTransaction) throws -> R) throws -> R {
        let txn = try begin(readOnly: true)
        openTransactions += 1
        defer {
            mdb_txn_abort(txn)
            openTransactions -= 1
        }
        return try body(ReadTransaction(handle: txn, environment: self))
    }

    /// Runs `body` in a write transaction: commits when it returns, aborts when it throws
    /// (rethrowing its error unchanged), and returns its result.
    ///
    /// **`body` must be re-runnable.** When the memory map is full (`MDB_MAP_FULL` from any
    /// operation in `body`, or from the commit), the transaction is aborted, the map size
    /// is doubled, and `body` is run again from the start in a new transaction. So `body`
    /// must not have effects outside the transaction (no network writes, no appends to
    /// outer arrays that survive a retry); compute such things before or after `write`.
    /// A retry happens even if `body` caught the `MDB_MAP_FULL` error itself: the
    /// transaction is unusable after it.
    ///
    /// The map can only be grown when no other transaction of this environment is open.
    /// A write nested in a ``read(_:)`` closure therefore fails with `.mapFull` instead of
    /// growing. Nesting a write in a write is a programming error (it would deadlock on
    /// LMDB's writer lock) and traps.
    ///
    /// `body` receives the transaction `inout`: mutating calls (`put`, `delete`, …) need
    /// exclusive access, so the compiler rejects a write while a value or cursor lent by
    /// the same transaction is still in use (LMDB may move pages on write, which would
    /// invalidate that memory).
    public func write<R>(_ body: (inout WriteTransaction) throws -> R) throws -> R {
        while true {
            switch try attemptWrite(body) {
            case .committed(let value):
                return value
            case .mapFull(let error):
                try growMap(after: error)
            }
        }
    }

    private enum WriteAttempt<R> {
        case committed(R)
        case mapFull(LMDBError)
    }

    private func attemptWrite<R>(_ body: (inout WriteTransaction) throws -> R) throws -> WriteAttempt<R> {
        precondition(!writeTransactionOpen, "nested write transaction on \(path): LMDB has one writer, this would deadlock")
        let txn = try begin(readOnly: false)
        openTransactions += 1
        writeTransactionOpen = true
        mapFullInCurrentWrite = nil
        defer {
            openTransactions -= 1
            writeTransactionOpen = false
        }

        let value: R
        do {
            var transaction = WriteTransaction(handle: txn, environment: self)
            value = try body(&transaction)
        } catch {
            mdb_txn_abort(txn)
            if let mapFull = mapFullInCurrentWrite { return .mapFull(mapFull) }
            throw error
        }
        // mdb_txn_commit frees the transaction whether it succeeds or not.
        let rc = mdb_txn_commit(txn)
        if rc == MDB_MAP_FULL {
            return .mapFull(LMDBError(operation: "mdb_txn_commit", code: .mapFull, path: path))
        }
        if rc != MDB_SUCCESS, let mapFull = mapFullInCurrentWrite {
            // `body` swallowed a MAP_FULL; the commit of the failed transaction was refused.
            return .mapFull(mapFull)
        }
        try check(rc, "mdb_txn_commit", path: path)
        return .committed(value)
    }

    /// Doubles the map. Only called with no transaction of this environment open.
    private func growMap(after error: LMDBError) throws {
        guard openTransactions == 0 else { throw error }
        let current = try mapSize
        let (doubled, overflow) = current.multipliedReportingOverflow(by: 2)
        guard !overflow else { throw error }
        try resizeMap(to: doubled)
    }

    /// `mdb_env_set_mapsize` on an open environment: only valid with no transaction open
    /// in this process. `0` adopts the size another process has set.
    private func resizeMap(to size: Int) throws {
        precondition(openTransactions == 0, "map resized with a transaction open")
        // The new map may be elsewhere: releasing the old addresses could then drop
        // memory that is no longer the file's.
        mappedRanges = nil
        do {
            try check(mdb_env_set_mapsize(handle, size), "mdb_env_set_mapsize", path: path)
        } catch {
            // LMDB unmapped the old map before failing to map the new one.
            unusable = error
            throw error
        }
    }

    /// Begins a transaction, adopting a map that another process has grown
    /// (`MDB_MAP_RESIZED`) when no transaction of ours is open.
    private func begin(readOnly: Bool) throws -> OpaquePointer {
        if let unusable { throw unusable }
        while true {
            var txn: OpaquePointer?
            let rc = mdb_txn_begin(handle, nil, readOnly ? UInt32(MDB_RDONLY) : 0, &txn)
            if rc == MDB_MAP_RESIZED && openTransactions == 0 {
                try resizeMap(to: 0)
                continue
            }
            try check(rc, "mdb_txn_begin", path: path)
            guard let txn else { preconditionFailure("mdb_txn_begin succeeded without a transaction") }
            return txn
        }
    }

    /// Records a `MDB_MAP_FULL` seen inside the current write transaction.
    func noteMapFull(_ error: LMDBError) {
        if writeTransactionOpen && mapFullInCurrentWrite == nil { mapFullInCurrentWrite = error }
    }
}

@available(*, unavailable)
extension Environment: Sendable {}

/// A named database of an ``Environment``, from ``Environment/database(named:)``.
///
/// A plain value: valid in every transaction of the environment that opened it begun after
/// it was opened, for the life of that environment. Keys are ordered bytewise
/// (lexicographically, a shorter key before its extensions) and are 1 to 511 bytes long.
public struct Database: Hashable, Sendable, CustomStringConvertible {
    public let name: String
    let dbi: UInt32
    /// The environment that opened the handle: a handle is only an index into its table.
    let environment: ObjectIdentifier

    public var description: String { name }
}
