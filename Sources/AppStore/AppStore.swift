@_exported import DirectoryModel

/// Table and column names of the app store (configurable so an existing application
/// table can be used).
public struct AppSchema: Sendable, Hashable {
    public var usersTable = "users"
    public var keyColumn = "key"
    public var managedColumn = "ldap_managed"
    public var activeColumn = "active"
    public var updatedAtColumn: String? = "updated_at"
    public var membershipsTable = "group_members"
    public var membershipUserColumn = "user_key"
    public var membershipGroupColumn = "group_name"
    /// The mapped columns.
    public var columns: [AppColumn] = []
    public init() {}
}

/// An app-store error: what failed, where, and the database's own message. Never
/// contains column values.
public struct AppStoreError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var message: String
    public init(operation: String, message: String) {
        self.operation = operation
        self.message = message
    }
    public var description: String { "app store: \(operation): \(message)" }
}

/// The application's user store. Implementations are synchronous and not thread-safe.
public protocol AppStore: AnyObject {
    /// The users with these keys (managed or not), by key. Keys are compared exactly.
    func users(withKeys keys: [String]) throws -> [String: AppUser]
    /// Calls `body` with every managed user, in key order, without loading them all;
    /// with `updatedSince`, only those whose `updatedAt` is at or after its second (in
    /// either text form of SPEC §5; rows whose column is NULL are not included). Without
    /// an `updatedAt` column, every managed user.
    func forEachManagedUser(updatedSince: Timestamp?, _ body: (AppUser) throws -> Void) throws
    /// The number of managed users (for percentage safety limits).
    func managedUserCount() throws -> Int
    /// Whether the store holds no user at all, managed or not: a first run into an empty
    /// store has nobody to look up (nor any membership) while it decides.
    func hasNoUsers() throws -> Bool
    /// Whether an index of the memberships table starts with its user column: runs look
    /// memberships up by user, and without one each look-up reads the whole table.
    func membershipsHaveUserIndex() throws -> Bool
    /// For each of these users, its memberships among `groups` (users without any are
    /// absent from the result).
    func memberships(ofUsers keys: [String], in groups: Set<String>) throws -> [String: Set<String>]
    /// Applies every change in one transaction: all or nothing. `updatedAt`, when
    /// configured, is set to the current UTC time on every row written.
    func apply(_ changes: [AppChange]) throws
    /// Applies the batches `next` returns, until it returns nil, in ONE transaction: all
    /// or nothing, like ``apply(_:)``, without holding every change in memory. With a
    /// `mark`, the same transaction records that this run committed (``committedRun(of:)``).
    func apply(streaming next: () throws -> [AppChange]?, mark: CommitMark?) throws
    /// The same, with batches that can be read again: `batch(n)` returns the n-th batch
    /// (from 0), nil after the last, and the same batches when asked again. A store may
    /// make a first attempt that is cheaper but less precise on failure, and make the
    /// apply again from batch 0 to name the failing change. By default, ``apply(streaming:mark:)``.
    func apply(replayable batch: (Int) throws -> [AppChange]?, mark: CommitMark?) throws
    /// ``apply(streaming:mark:)`` as an attempt: all or nothing as well, but a failure
    /// need not name the failing change; the caller learns it by applying the same
    /// batches with ``apply(replayable:mark:)``. By default, ``apply(streaming:mark:)``.
    func tryApply(streaming next: () throws -> [AppChange]?, mark: CommitMark?) throws
    /// The run whose transaction for this directory committed last (its ``CommitMark``),
    /// nil when none did. A run that died between its app commit and its state commit
    /// is recognized by it (SPEC I1).
    func committedRun(of directory: String) throws -> String?
    /// Checks that the tables and columns exist with usable types; the error names what
    /// is missing.
    func validateSchema() throws
    /// Creates the default tables when missing (`ldapsync init`).
    func createDefaultSchema() throws
}

/// Written in the app transaction itself: which run of which directory committed it, in
/// the table ``CommitMark/table`` (one row per directory).
public struct CommitMark: Sendable, Hashable {
    public var directory: String
    public var runID: String
    public init(directory: String, runID: String) {
        self.directory = directory
        self.runID = runID
    }

    /// `ldapsync_commits (directory TEXT PRIMARY KEY, run_id TEXT, committed_at TEXT)`.
    public static let table = "ldapsync_commits"
}

extension AppStore {
    /// Every managed user, in key order (``forEachManagedUser(updatedSince:_:)`` without a bound).
    public func forEachManagedUser(_ body: (AppUser) throws -> Void) throws {
        try forEachManagedUser(updatedSince: nil, body)
    }

    public func apply(streaming next: () throws -> [AppChange]?) throws {
        try apply(streaming: next, mark: nil)
    }

    public func tryApply(streaming next: () throws -> [AppChange]?, mark: CommitMark?) throws {
        try apply(streaming: next, mark: mark)
    }

    public func apply(replayable batch: (Int) throws -> [AppChange]?, mark: CommitMark?) throws {
        var sequence = 0
        try apply(streaming: {
            defer { sequence += 1 }
            return try batch(sequence)
        }, mark: mark)
    }
}

extension AppChange {
    /// What the change does, naming its keys (never its values): the operation of an
    /// ``AppStoreError`` when it fails.
    var operationDescription: String {
        switch self {
        case .create(let user): "create user \(user.key.debugDescription)"
        case .update(let key, _): "update user \(key.debugDescription)"
        case .setManaged(let key, let managed): "\(managed ? "tag" : "untag") user \(key.debugDescription) as managed"
        case .setActive(let key, let active): "\(active ? "activate" : "deactivate") user \(key.debugDescription)"
        case .rename(let from, let to): "rename user \(from.debugDescription) to \(to.debugDescription)"
        case .addMembership(let user, let group): "add user \(user.debugDescription) to group \(group.debugDescription)"
        case .removeMembership(let user, let group): "remove user \(user.debugDescription) from group \(group.debugDescription)"
        }
    }
}

/// "`updatedAt` at or after this second" for the column's text, in both forms SPEC §5
/// allows: ISO 8601 (`2026-11-21T15:30:00Z`, fractions allowed) and SQLite's `datetime()`
/// form (`2026-11-21 15:30:00`). Text comparison alone would not do: on the bound's day
/// every `T` form sorts after every space form.
struct UpdatedAtBound {
    /// `2026-11-21 15:30:00`
    let spaceForm: String
    /// `2026-11-21T`: after every space form of that day.
    let dayEnd: String
    /// `2026-11-21T15:30:00`
    let isoForm: String

    init(_ timestamp: Timestamp) {
        let iso = String(SQLiteAppStore.iso8601UTC(secondsSince1970: timestamp.seconds).prefix(19))
        isoForm = iso
        spaceForm = String(iso.map { $0 == "T" ? " " : $0 })
        dayEnd = String(iso.prefix(11))
    }

    /// A space form at or after the bound on its day, or (any later day, or a T form)
    /// at or after the ISO form.
    func condition(column: String, placeholders: (space: String, dayEnd: String, iso: String)) -> String {
        "((\(column) >= \(placeholders.space) AND \(column) < \(placeholders.dayEnd)) OR \(column) >= \(placeholders.iso))"
    }
}
