import DirectoryModel

/// How an LDAP attribute's values are held in the app.
public enum ValueKind: Sendable, Hashable {
    /// One text value (the first value the server returns when there are several).
    case text
    /// Every value, as a JSON array of strings in one text column.
    case multiText
    /// The first value's raw bytes, in a BLOB column.
    case binary
}

/// One mapped attribute, as the engine needs it.
public struct MappedAttribute: Sendable, Hashable {
    public var ldap: AttributeName
    /// The app column.
    public var column: String
    public var kind: ValueKind
    /// Values compare case-insensitively (the schema's equality rule is a caseIgnore
    /// rule, e.g. `mail`): a case-only difference is not a change.
    public var caseInsensitive: Bool
    /// Values are never shown in plans, logs or reports.
    public var sensitive: Bool
    /// Which way the attribute flows (`from-ldap` by default).
    public var direction: SyncDirection
    /// How a conflict on this attribute is settled.
    public var conflict: ConflictPolicy
    /// A value transform between the app column and the LDAP values (SPEC §5).
    public var transform: ValueTransform?

    public init(ldap: AttributeName, column: String, kind: ValueKind = .text, caseInsensitive: Bool = false, sensitive: Bool = false,
                direction: SyncDirection = .fromLDAP, conflict: ConflictPolicy = .ldapWins, transform: ValueTransform? = nil) {
        self.transform = transform
        self.ldap = ldap
        self.column = column
        self.kind = kind
        self.caseInsensitive = caseInsensitive
        self.sensitive = sensitive
        self.direction = direction
        self.conflict = conflict
    }
}

/// One app group mapped to one LDAP group (SPEC §7).
public struct AppGroupRule: Sendable, Hashable {
    public var appGroup: String
    /// The LDAP group's DN key (``DNKey``).
    public var ldapGroup: String

    public init(appGroup: String, ldapGroup: String) {
        self.appGroup = appGroup
        self.ldapGroup = ldapGroup
    }
}

/// Which users are synced and which memberships are managed (SPEC §7).
public enum GroupPolicy: Sendable, Hashable {
    /// Every user in scope is synced; no membership is managed.
    case none
    /// Every user in scope is synced; every LDAP group becomes an app group named by its
    /// `cn`, with the same members.
    case mirror
    /// Only members of a mapped LDAP group are synced; the rules decide memberships.
    case rules([AppGroupRule])
}

/// Everything the engine needs to know about the configuration.
public struct SyncPolicy: Sendable, Hashable {
    public var attributes: [MappedAttribute]
    public var groups: GroupPolicy
    /// Deactivate managed app users that no longer exist in LDAP.
    public var autoDeactivate: Bool
    /// Tag an untagged app user whose key matches an in-scope LDAP user.
    public var adoptExisting: Bool
    /// Fill in the display forms of attribute changes (`old → new`) for a plan; a run
    /// that only writes leaves them empty and saves the work.
    public var explain = true
    /// `writeBack.enabled`: the global switch; no LDAP write happens without it.
    public var writeBackEnabled = false
    /// `users.accountState` (nil: off): the directory account's enabled state drives the
    /// app's active flag.
    public var accountState: AccountStatePolicy?

    public init(attributes: [MappedAttribute], groups: GroupPolicy = .none, autoDeactivate: Bool = false, adoptExisting: Bool = false) {
        self.attributes = attributes
        self.groups = groups
        self.autoDeactivate = autoDeactivate
        self.adoptExisting = adoptExisting
    }
}
