import DirectoryModel

/// A value in an app column.
public enum AppValue: Hashable, Sendable {
    case null
    case text(String)
    case integer(Int64)
    case blob([UInt8])
}

/// How a mapped column holds its values (SPEC §6).
public enum AppColumnKind: Sendable, Hashable {
    /// One text value.
    case text
    /// A JSON array of strings in one text column (multi-valued attributes).
    case jsonArray
    /// Raw bytes (BLOB / bytea) for binary attributes.
    case blob
}

public struct AppColumn: Sendable, Hashable {
    public var name: String
    public var kind: AppColumnKind
    public init(name: String, kind: AppColumnKind) {
        self.name = name
        self.kind = kind
    }
}

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

/// One row of the users table, as far as ldapsync is concerned.
public struct AppUser: Sendable, Hashable {
    public var key: String
    /// The "LDAP user" tag: only managed users are ever touched.
    public var managed: Bool
    public var active: Bool
    /// The `updatedAt` column as stored (ISO 8601 or SQLite's `datetime('now')` text).
    public var updatedAt: String?
    /// Mapped columns only, by column name.
    public var values: [String: AppValue]

    public init(key: String, managed: Bool, active: Bool = true, updatedAt: String? = nil, values: [String: AppValue] = [:]) {
        self.key = key
        self.managed = managed
        self.active = active
        self.updatedAt = updatedAt
        self.values = values
    }
}

/// One change to the app store. A run's changes are applied in one transaction.
public enum AppChange: Sendable, Hashable {
    /// Insert a user (managed, active) with its mapped values.
    case create(AppUser)
    /// Set these mapped columns of an existing user.
    case update(key: String, values: [String: AppValue])
    /// Set the managed tag (adoption).
    case setManaged(key: String, Bool)
    /// Set the active flag (deactivation never deletes).
    case setActive(key: String, Bool)
    /// Change a user's key, in the users table and in memberships (a renamed key
    /// attribute in LDAP).
    case rename(from: String, to: String)
    case addMembership(user: String, group: String)
    case removeMembership(user: String, group: String)
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
    /// Calls `body` with every managed user, in key order, without loading them all.
    func forEachManagedUser(_ body: (AppUser) throws -> Void) throws
    /// The number of managed users (for percentage safety limits).
    func managedUserCount() throws -> Int
    /// For each of these users, its memberships among `groups` (users without any are
    /// absent from the result).
    func memberships(ofUsers keys: [String], in groups: Set<String>) throws -> [String: Set<String>]
    /// Applies every change in one transaction: all or nothing. `updatedAt`, when
    /// configured, is set to the current UTC time on every row written.
    func apply(_ changes: [AppChange]) throws
    /// Checks that the tables and columns exist with usable types; the error names what
    /// is missing.
    func validateSchema() throws
    /// Creates the default tables when missing (`ldapsync init`).
    func createDefaultSchema() throws
}
