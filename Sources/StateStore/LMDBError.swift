internal import CLMDB

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#elseif canImport(Darwin)
internal import Darwin
#endif

/// A return code of an LMDB function: `0` for success, one of LMDB's own codes (negative),
/// or an `errno` value that LMDB passed through from the operating system (positive).
///
/// A struct rather than a closed enum: LMDB and the kernel may return codes that are not
/// named here, and they must survive unchanged.
public struct ResultCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32

    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// `MDB_SUCCESS`
    public static let success = ResultCode(rawValue: MDB_SUCCESS)
    /// `MDB_KEYEXIST`: key/data pair already exists.
    public static let keyExists = ResultCode(rawValue: MDB_KEYEXIST)
    /// `MDB_NOTFOUND`: key/data pair not found (the wrapper turns it into `nil` where it
    /// means "absent").
    public static let notFound = ResultCode(rawValue: MDB_NOTFOUND)
    /// `MDB_PAGE_NOTFOUND`: requested page not found; usually corruption.
    public static let pageNotFound = ResultCode(rawValue: MDB_PAGE_NOTFOUND)
    /// `MDB_CORRUPTED`: located page was the wrong type.
    public static let corrupted = ResultCode(rawValue: MDB_CORRUPTED)
    /// `MDB_PANIC`: update of meta page failed or environment had a fatal error.
    public static let panic = ResultCode(rawValue: MDB_PANIC)
    /// `MDB_VERSION_MISMATCH`: environment version mismatch.
    public static let versionMismatch = ResultCode(rawValue: MDB_VERSION_MISMATCH)
    /// `MDB_INVALID`: file is not a valid LMDB file.
    public static let invalid = ResultCode(rawValue: MDB_INVALID)
    /// `MDB_MAP_FULL`: environment map size reached (the wrapper grows the map and retries).
    public static let mapFull = ResultCode(rawValue: MDB_MAP_FULL)
    /// `MDB_DBS_FULL`: environment `maxDatabases` reached.
    public static let databasesFull = ResultCode(rawValue: MDB_DBS_FULL)
    /// `MDB_READERS_FULL`: environment max readers reached.
    public static let readersFull = ResultCode(rawValue: MDB_READERS_FULL)
    /// `MDB_TLS_FULL`: too many TLS keys in use.
    public static let tlsFull = ResultCode(rawValue: MDB_TLS_FULL)
    /// `MDB_TXN_FULL`: transaction has too many dirty pages.
    public static let txnFull = ResultCode(rawValue: MDB_TXN_FULL)
    /// `MDB_CURSOR_FULL`: cursor stack too deep (internal error).
    public static let cursorFull = ResultCode(rawValue: MDB_CURSOR_FULL)
    /// `MDB_PAGE_FULL`: page has not enough space (internal error).
    public static let pageFull = ResultCode(rawValue: MDB_PAGE_FULL)
    /// `MDB_MAP_RESIZED`: another process grew the map beyond this environment's size
    /// (the wrapper adopts the new size and retries).
    public static let mapResized = ResultCode(rawValue: MDB_MAP_RESIZED)
    /// `MDB_INCOMPATIBLE`: operation and database incompatible, or database flags changed.
    public static let incompatible = ResultCode(rawValue: MDB_INCOMPATIBLE)
    /// `MDB_BAD_RSLOT`: invalid reuse of reader locktable slot.
    public static let badReaderSlot = ResultCode(rawValue: MDB_BAD_RSLOT)
    /// `MDB_BAD_TXN`: transaction must abort, has a child, or is invalid.
    public static let badTxn = ResultCode(rawValue: MDB_BAD_TXN)
    /// `MDB_BAD_VALSIZE`: unsupported size of key, database name or data (an empty key, or a
    /// key longer than 511 bytes).
    public static let badValSize = ResultCode(rawValue: MDB_BAD_VALSIZE)
    /// `MDB_BAD_DBI`: the database handle was changed unexpectedly.
    public static let badDBI = ResultCode(rawValue: MDB_BAD_DBI)

    /// `ENOENT`: no such file or directory.
    public static let noSuchFile = ResultCode(rawValue: ENOENT)
    /// `EIO`: input/output error.
    public static let ioError = ResultCode(rawValue: EIO)
    /// `ENOMEM`: out of memory (also: the map could not be mapped at the requested size).
    public static let outOfMemory = ResultCode(rawValue: ENOMEM)
    /// `EACCES`: permission denied.
    public static let permissionDenied = ResultCode(rawValue: EACCES)
    /// `EBUSY`: device or resource busy.
    public static let busy = ResultCode(rawValue: EBUSY)
    /// `EEXIST`: file exists.
    public static let fileExists = ResultCode(rawValue: EEXIST)
    /// `ENOTDIR`: not a directory.
    public static let notADirectory = ResultCode(rawValue: ENOTDIR)
    /// `EINVAL`: invalid argument (LMDB also returns it for misuse of a handle).
    public static let invalidArgument = ResultCode(rawValue: EINVAL)
    /// `ENOSPC`: no space left on device.
    public static let noSpace = ResultCode(rawValue: ENOSPC)
    /// `EROFS`: read-only file system.
    public static let readOnlyFileSystem = ResultCode(rawValue: EROFS)
    /// `EAGAIN`: resource temporarily unavailable (e.g. the lock file is held).
    public static let tryAgain = ResultCode(rawValue: EAGAIN)

    /// The C name of the code (`MDB_MAP_FULL`, `ENOSPC`), or the number when unnamed.
    public var description: String {
        switch self {
        case .success: "MDB_SUCCESS"
        case .keyExists: "MDB_KEYEXIST"
        case .notFound: "MDB_NOTFOUND"
        case .pageNotFound: "MDB_PAGE_NOTFOUND"
        case .corrupted: "MDB_CORRUPTED"
        case .panic: "MDB_PANIC"
        case .versionMismatch: "MDB_VERSION_MISMATCH"
        case .invalid: "MDB_INVALID"
        case .mapFull: "MDB_MAP_FULL"
        case .databasesFull: "MDB_DBS_FULL"
        case .readersFull: "MDB_READERS_FULL"
        case .tlsFull: "MDB_TLS_FULL"
        case .txnFull: "MDB_TXN_FULL"
        case .cursorFull: "MDB_CURSOR_FULL"
        case .pageFull: "MDB_PAGE_FULL"
        case .mapResized: "MDB_MAP_RESIZED"
        case .incompatible: "MDB_INCOMPATIBLE"
        case .badReaderSlot: "MDB_BAD_RSLOT"
        case .badTxn: "MDB_BAD_TXN"
        case .badValSize: "MDB_BAD_VALSIZE"
        case .badDBI: "MDB_BAD_DBI"
        case .noSuchFile: "ENOENT"
        case .ioError: "EIO"
        case .outOfMemory: "ENOMEM"
        case .permissionDenied: "EACCES"
        case .busy: "EBUSY"
        case .fileExists: "EEXIST"
        case .notADirectory: "ENOTDIR"
        case .invalidArgument: "EINVAL"
        case .noSpace: "ENOSPC"
        case .readOnlyFileSystem: "EROFS"
        case .tryAgain: "EAGAIN"
        default: "code \(rawValue)"
        }
    }
}

/// A failed LMDB (or file system) call.
///
/// Carries the C function that failed, its result code, the environment path and the
/// database name where known, and LMDB's own message (`mdb_strerror`). Keys and values are
/// never part of an error: they may hold personal data.
public struct LMDBError: Error, CustomStringConvertible, Sendable {
    /// The C function that failed, e.g. `mdb_put`.
    public var operation: String
    public var code: ResultCode
    /// The environment directory, when known.
    public var path: String?
    /// The named database, when the call concerned one.
    public var database: String?
    /// The text of `mdb_strerror` (which falls back to `strerror` for errno values).
    public var message: String

    public init(operation: String, code: ResultCode, path: String? = nil, database: String? = nil) {
        self.operation = operation
        self.code = code
        self.path = path
        self.database = database
        self.message = Self.strerror(code.rawValue)
    }

    public var description: String {
        var text = "\(operation) failed"
        if let database { text += " on database '\(database)'" }
        if let path { text += " in \(path)" }
        return text + ": \(code) (\(code.rawValue)): \(message)"
    }

    private static func strerror(_ code: Int32) -> String {
        guard let text = mdb_strerror(code) else { return "unknown error" }
        return String(cString: text)
    }
}

/// The one place where C return codes are checked: `0` passes, anything else throws an
/// ``LMDBError`` naming `operation`. Callers that treat a code as an expected outcome
/// (`MDB_NOTFOUND` as "absent") test for it before calling this.
@inline(__always)
func check(_ rc: Int32, _ operation: StaticString, path: String? = nil, database: String? = nil) throws(LMDBError) {
    guard rc != MDB_SUCCESS else { return }
    throw LMDBError(operation: "\(operation)", code: ResultCode(rawValue: rc), path: path, database: database)
}
