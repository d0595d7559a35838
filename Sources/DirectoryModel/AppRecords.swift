// The app store's records, shared by the app store (which reads and writes them) and the
// sync engine (which decides them). Defined here so that the engine needs no I/O module.

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

