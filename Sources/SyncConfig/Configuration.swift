import DirectoryModel

/// The validated configuration of SPEC §3. Every field has the documented default; see
/// `ConfigurationLoader` for decoding and validation and docs/configuration.md.
public struct Configuration: Sendable, Equatable {
    /// The file the configuration came from (messages name it).
    public var sourcePath: String
    /// Always 1 for now.
    public var version: Int
    /// LMDB environment directory (absolute after loading: relative paths are resolved
    /// against the configuration file's directory).
    public var statePath: String
    public var directories: [DirectoryConfiguration]
    public var app: AppConfiguration
    public var attributes: [AttributeMapping]
    public var writeBack: WriteBackConfiguration
    public var groups: GroupMapping
    public var users: UserPolicy
    public var safety: SafetyLimits
    public var cursor: CursorConfiguration
    public var audit: AuditConfiguration

    public init(sourcePath: String, version: Int = 1, statePath: String = "/var/lib/ldapsync",
                directories: [DirectoryConfiguration] = [], app: AppConfiguration = .init(),
                attributes: [AttributeMapping] = [], writeBack: WriteBackConfiguration = .init(),
                groups: GroupMapping = .none, users: UserPolicy = .init(), safety: SafetyLimits = .init(),
                cursor: CursorConfiguration = .init(), audit: AuditConfiguration = .init()) {
        self.sourcePath = sourcePath
        self.version = version
        self.statePath = statePath
        self.directories = directories
        self.app = app
        self.attributes = attributes
        self.writeBack = writeBack
        self.groups = groups
        self.users = users
        self.safety = safety
        self.cursor = cursor
        self.audit = audit
    }
}

public enum DirectoryType: String, Sendable, Equatable, CaseIterable {
    case openldap, ad, generic
}

public enum ScopeSetting: String, Sendable, Equatable, CaseIterable {
    case base, one, sub
}

/// Where a password comes from; inline passwords are refused (SPEC §12).
public enum PasswordSource: Sendable, Equatable {
    /// A file readable by the owner only (refused if group- or world-readable).
    case file(String)
    /// An environment variable.
    case environment(String)
}

public struct BindConfiguration: Sendable, Equatable {
    public var dn: String
    public var password: PasswordSource
    public init(dn: String, password: PasswordSource) {
        self.dn = dn
        self.password = password
    }
}

public struct TLSConfiguration: Sendable, Equatable {
    public var caFile: String? = nil
    public var verify = true
    public init(caFile: String? = nil, verify: Bool = true) {
        self.caFile = caFile
        self.verify = verify
    }
}

public struct UserScope: Sendable, Equatable {
    public var base: String
    public var scope: ScopeSetting
    public var filter: String
    /// The immutable id attribute (`entryUUID`; `objectGUID` for AD).
    public var id: AttributeName
    /// The attribute matching the app key (`uid`; `sAMAccountName` for AD).
    public var key: AttributeName
    /// Whether the account's enabled state (AD: `userAccountControl` bit 2,
    /// ACCOUNTDISABLE) drives the app's active flag; `off` by default.
    public var accountState: AccountStateMode
    public init(base: String, scope: ScopeSetting, filter: String, id: AttributeName, key: AttributeName,
                accountState: AccountStateMode = .off) {
        self.base = base
        self.scope = scope
        self.filter = filter
        self.id = id
        self.key = key
        self.accountState = accountState
    }
}

/// `users.accountState` of a directory: how a disabled directory account and the app's
/// active flag follow each other. Active Directory only (`userAccountControl`).
public enum AccountStateMode: String, Sendable, Equatable, CaseIterable {
    /// The active flag is not synced (the default): only `autoDeactivate` changes it.
    case off
    /// A disabled account is `active = 0` in the app, an enabled one `active = 1`; an app
    /// edit of the flag is reset to the directory's state.
    case fromLDAP = "from-ldap"
    /// As `from-ldap`, and with `writeBack.enabled` an app (de)activation sets or clears
    /// the disabled bit in the directory, keeping the other bits.
    case both

    /// The attribute holding the state in Active Directory.
    public static let attribute: AttributeName = "userAccountControl"
}

/// How group membership is expressed in the directory.
public enum MembershipAttribute: String, Sendable, Equatable, CaseIterable {
    /// Member DNs on the group (`groupOfNames`).
    case member
    /// Member DNs on the group (`groupOfUniqueNames`).
    case uniqueMember
    /// Member keys on the group (`posixGroup`).
    case memberUid
    /// Group DNs on the user.
    case memberOf
}

public struct GroupScope: Sendable, Equatable {
    public var base: String
    public var scope: ScopeSetting
    public var filter: String
    public var members: MembershipAttribute
    public init(base: String, scope: ScopeSetting = .sub, filter: String, members: MembershipAttribute) {
        self.base = base
        self.scope = scope
        self.filter = filter
        self.members = members
    }
}

public struct TimestampConfiguration: Sendable, Equatable {
    /// `modifyTimestamp`; `whenChanged` for AD.
    public var attribute: AttributeName
    /// The pattern text as configured (`openldap`, `ad`, or an explicit pattern); the
    /// loader has checked that `TimestampPattern(pattern)` accepts it.
    public var pattern: String
    public var overlap: Duration
    public init(attribute: AttributeName, pattern: String, overlap: Duration) {
        self.attribute = attribute
        self.pattern = pattern
        self.overlap = overlap
    }
}

public enum DeletionMode: String, Sendable, Equatable, CaseIterable {
    case everyRun = "every-run", fullOnly = "full-only", tombstones, off
}

public struct DirectoryConfiguration: Sendable, Equatable {
    public var name: String
    public var type: DirectoryType
    public var url: String
    public var startTLS: Bool
    public var tls: TLSConfiguration
    public var allowPlaintext: Bool
    public var bind: BindConfiguration
    /// The write principal; nil means `bind`.
    public var writeBind: BindConfiguration?
    /// Per operation.
    public var timeout: Duration
    public var users: UserScope
    /// nil when the directory has no `groups` section.
    public var groups: GroupScope?
    public var timestamp: TimestampConfiguration
    public var pageSize: Int
    public var deletions: DeletionMode
    /// Values per Active Directory range request (`member;range=0-(N-1)`, then
    /// `member;range=N-(2N-1)`, ...); nil lets the server decide (Windows sends 1500 per
    /// range, Samba every value at once). Only with `type: ad`.
    public var rangeSize: Int? = nil

    public init(name: String, type: DirectoryType, url: String, startTLS: Bool = false, tls: TLSConfiguration = .init(),
                allowPlaintext: Bool = false, bind: BindConfiguration, writeBind: BindConfiguration? = nil,
                timeout: Duration = .seconds(30), users: UserScope, groups: GroupScope?,
                timestamp: TimestampConfiguration, pageSize: Int = 1000, deletions: DeletionMode = .everyRun) {
        self.name = name
        self.type = type
        self.url = url
        self.startTLS = startTLS
        self.tls = tls
        self.allowPlaintext = allowPlaintext
        self.bind = bind
        self.writeBind = writeBind
        self.timeout = timeout
        self.users = users
        self.groups = groups
        self.timestamp = timestamp
        self.pageSize = pageSize
        self.deletions = deletions
    }
}

public struct UsersTable: Sendable, Equatable {
    public var table = "users"
    public var key = "key"
    public var managed = "ldap_managed"
    public var active = "active"
    /// nil when the app keeps no modification time (then `conflict: newest` is refused).
    public var updatedAt: String? = "updated_at"
    public init() {}
}

public struct MembershipsTable: Sendable, Equatable {
    public var table = "group_members"
    public var user = "user_key"
    public var group = "group_name"
    public init() {}
}

public enum AppStoreKind: Sendable, Equatable {
    /// Path made absolute by the loader (relative to the configuration file).
    case sqlite(path: String)
    /// A PostgreSQL server: its URL (without a password), where the password comes
    /// from, and how the connection is secured.
    case postgres(url: String, password: PasswordSource?, tls: PostgresTLS = PostgresTLS())
}

/// TLS for the PostgreSQL app store (`app.sslMode`, `app.caFile`), passed to libpq as
/// `sslmode` and `sslrootcert`.
public struct PostgresTLS: Sendable, Equatable {
    public enum Mode: String, Sendable, Equatable, CaseIterable {
        /// No TLS.
        case disable
        /// TLS, without checking the server's certificate.
        case require
        /// TLS, the certificate signed by a trusted CA (`caFile`).
        case verifyCA = "verify-ca"
        /// TLS, the certificate signed by a trusted CA and naming the URL's host.
        case verifyFull = "verify-full"
    }

    /// Nil leaves libpq's choice: the URL's `sslmode=`, else `prefer` (TLS when the
    /// server offers it, unverified).
    public var mode: Mode?
    /// The CA certificates (PEM) that verify the server; nil: libpq's default,
    /// `~/.postgresql/root.crt`. Made absolute by the loader.
    public var caFile: String?

    public init(mode: Mode? = nil, caFile: String? = nil) {
        self.mode = mode
        self.caFile = caFile
    }
}

public struct AppConfiguration: Sendable, Equatable {
    public var kind: AppStoreKind = .sqlite(path: "app.db")
    public var users = UsersTable()
    public var memberships = MembershipsTable()
    /// How an incremental run finds the app rows edited since the last run (`app.findEdits`).
    public var findEdits: EditDetection = .scan
    public init() {}
}

/// `app.findEdits`: how an incremental run finds app-side edits of users LDAP did not change.
public enum EditDetection: String, Sendable, Equatable, CaseIterable {
    /// Every managed row is compared with its snapshot on every run: O(app users).
    case scan
    /// Only rows whose `updatedAt` is at or after the previous run's start (less the
    /// overlap) are compared: O(edits). The application must set `updatedAt` on every edit.
    case updatedAt = "updated-at"
}

public enum SyncDirection: String, Sendable, Equatable, CaseIterable {
    case fromLDAP = "from-ldap", toLDAP = "to-ldap", both
}

public enum ConflictPolicy: String, Sendable, Equatable, CaseIterable {
    case ldapWins = "ldap-wins", appWins = "app-wins", newest, manual
}

public enum ValueTransform: Sendable, Equatable {
    case json, lowercase, trim
    case join(String)
}

public struct AttributeMapping: Sendable, Equatable {
    public var ldap: AttributeName
    /// The app column.
    public var app: String
    public var direction: SyncDirection = .fromLDAP
    public var conflict: ConflictPolicy = .ldapWins
    public var multiValued = false
    public var binary = false
    public var transform: ValueTransform? = nil
    /// Values never logged or audited.
    public var sensitive = false

    public init(ldap: AttributeName, app: String) {
        self.ldap = ldap
        self.app = app
    }
}

public struct WriteBackConfiguration: Sendable, Equatable {
    public var enabled = false
    public init(enabled: Bool = false) { self.enabled = enabled }
}

public struct GroupRule: Sendable, Equatable {
    /// The app group name.
    public var app: String
    /// The LDAP group DN.
    public var ldap: String
    public init(app: String, ldap: String) {
        self.app = app
        self.ldap = ldap
    }
}

/// SPEC §7: absent (no membership managed), `mirror`, or a list of rules.
public enum GroupMapping: Sendable, Equatable {
    case none
    case mirror
    case rules([GroupRule])
}

public struct UserPolicy: Sendable, Equatable {
    public var autoDeactivate = false
    public var adoptExisting = false
    public init(autoDeactivate: Bool = false, adoptExisting: Bool = false) {
        self.autoDeactivate = autoDeactivate
        self.adoptExisting = adoptExisting
    }
}

/// A safety limit: an absolute count or a percentage of the managed users.
public enum Limit: Sendable, Equatable {
    case count(Int)
    case percent(Double)

    /// The largest allowed number of changes out of `total`.
    public func allowed(outOf total: Int) -> Int {
        switch self {
        case .count(let count): count
        case .percent(let percent): Int((Double(total) * percent / 100).rounded(.down))
        }
    }
}

public struct SafetyLimits: Sendable, Equatable {
    public var maxDeactivations: Limit = .percent(5)
    public var maxGroupRemovals: Limit = .percent(10)
    public init() {}
}

public struct CursorConfiguration: Sendable, Equatable {
    /// How cursors are shown and typed (UTC); ISO 8601 is always accepted too.
    public var display = "dd-MM-yyyy HH:mm:ss"
    public init() {}
}

public struct AuditConfiguration: Sendable, Equatable {
    public var path = "/var/log/ldapsync/audit.jsonl"
    public init() {}
}
