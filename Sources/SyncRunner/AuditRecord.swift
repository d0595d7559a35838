import DirectoryModel

/// One write attempted on either side: one line of the audit log (SPEC §11, I8).
///
/// The record carries display strings, never raw bytes: a binary value is passed as a
/// description such as `<1024 bytes>`. Values of sensitive attributes are redacted when
/// the line is written (see ``AuditAttribute``), so the caller may fill the record with
/// what it has.
public struct AuditRecord: Sendable {
    /// The side written.
    public enum Side: String, Sendable {
        case app, ldap
    }

    /// What became of the write.
    public enum Outcome: String, Sendable {
        /// The side accepted the write.
        case success
        /// The side refused the write, or it could not be sent; the entry is retried (I3).
        case failure
        /// The write was planned but not attempted (for example, an earlier write for the
        /// same entry failed). A dry run attempts nothing and so writes no audit line at all.
        case skipped
    }

    /// When the write was attempted, UTC; written as ISO 8601 (`2026-11-21T15:30:00Z`).
    public var time: Timestamp
    /// The run, as ``AuditLog/newRunID()`` made it; every line of one run carries it.
    public var runID: String
    public var side: Side
    /// `create`, `update`, `deactivate`, `rename`, `addMembership`, `removeMembership`,
    /// `modify`, `conflict`, …
    public var operation: String
    /// The directory's name in the configuration.
    public var directory: String
    /// The app key of the user or group, when known.
    public var key: String?
    /// The entry's DN, when known.
    public var dn: String?
    /// The attributes written, with their old and new values.
    public var attributes: [AuditAttribute]
    public var outcome: Outcome
    /// The LDAP result code (`LDAP_SUCCESS` is 0), or nil for the app side or a write that
    /// never reached the server.
    public var resultCode: Int32?
    /// The server's diagnostic message or the error's text.
    ///
    /// The caller passes what it has: server diagnostics and error descriptions do not
    /// carry attribute values in the cases ldapsync produces, but a server may quote one.
    /// As a safety net, every occurrence of a value of a redacted attribute of this record
    /// is replaced by `<redacted>` when the line is written; a sensitive value that is not
    /// among this record's attributes cannot be recognised, so never put one here.
    public var message: String?

    public init(time: Timestamp, runID: String, side: Side, operation: String, directory: String,
                key: String? = nil, dn: String? = nil, attributes: [AuditAttribute] = [],
                outcome: Outcome, resultCode: Int32? = nil, message: String? = nil) {
        self.time = time
        self.runID = runID
        self.side = side
        self.operation = operation
        self.directory = directory
        self.key = key
        self.dn = dn
        self.attributes = attributes
        self.outcome = outcome
        self.resultCode = resultCode
        self.message = message
    }
}

/// One attribute of an audited write: its name and its values before and after.
///
/// `nil` means "not part of this change" and the key is left out of the line; an empty
/// array means "no values".
///
/// The values of a redacted attribute (``isRedacted``) are written as the single string
/// `"<redacted>"` in place of each non-nil array, whatever it holds: neither the values
/// nor their number nor whether there were any reach the file.
public struct AuditAttribute: Sendable {
    /// The attribute's name on the side written (`mail`, `display_name`).
    public var name: String
    public var old: [String]?
    public var new: [String]?
    /// `sensitive: true` in the configuration: the values are never written.
    public var sensitive: Bool

    public init(name: String, old: [String]? = nil, new: [String]? = nil, sensitive: Bool = false) {
        self.name = name
        self.old = old
        self.new = new
        self.sensitive = sensitive
    }

    /// Whether the values are replaced by `<redacted>`: the attribute is marked
    /// ``sensitive``, or its name says it holds a password or key (SPEC §11: "values of
    /// `sensitive: true` attributes and passwords redacted").
    ///
    /// The names are a safety net for a caller that forgot the flag, not a substitute for
    /// it: `userPassword`, `unicodePwd`, `sambaNTPassword`, `pwdHistory`, `password_hash`,
    /// `clientSecret`, `krbPrincipalKey`, `userPKCS12` and anything else whose name
    /// contains `password`, `passwd`, `pwd` or `secret`, in any case. A few harmless
    /// attributes are redacted with them (`pwdChangedTime`).
    public var isRedacted: Bool {
        sensitive || Self.namesSecret(name)
    }

    static let redactedValue = "<redacted>"

    private static let secretNameParts = ["password", "passwd", "pwd", "secret"]
    private static let secretNames: Set<String> = ["krbprincipalkey", "userpkcs12"]
    private static let secretNamePartBytes = secretNameParts.map { Array($0.utf8) }
    private static let secretNameBytes = Set(secretNames.map { Array($0.utf8) })

    static func namesSecret(_ name: String) -> Bool {
        // Called for every attribute of every audit line: ASCII names (all real ones) are
        // folded and searched as bytes, without Foundation's string search.
        var bytes = Array(name.utf8)
        if bytes.allSatisfy({ $0 < 0x80 }) {
            for index in bytes.indices where bytes[index] >= 0x41 && bytes[index] <= 0x5A { bytes[index] += 0x20 }
            let type = bytes.firstIndex(of: UInt8(ascii: ";")).map { Array(bytes[..<$0]) } ?? bytes
            return secretNameBytes.contains(type) || secretNamePartBytes.contains { part in
                bytes.count >= part.count && (0...(bytes.count - part.count)).contains { start in bytes[start..<(start + part.count)].elementsEqual(part) }
            }
        }
        // The type without options: `userPassword;binary` is still a password.
        let folded = name.lowercased()
        let type = folded.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? folded
        return secretNames.contains(type) || secretNameParts.contains { folded.contains($0) }
    }
}

extension AuditRecord {
    /// ``message`` with every value of this record's redacted attributes replaced by
    /// `<redacted>`, the longest first so that a value containing another goes whole.
    var redactedMessage: String? {
        guard var text = message else { return nil }
        var values = Set<String>()
        for attribute in attributes where attribute.isRedacted {
            values.formUnion(attribute.old ?? [])
            values.formUnion(attribute.new ?? [])
        }
        values.remove("")
        let secrets = values.sorted { $0.utf8.count > $1.utf8.count }
        for secret in secrets where text.contains(secret) {
            text = text.replacing(secret, with: AuditAttribute.redactedValue)
        }
        return text
    }
}

extension AuditRecord {
    /// The record of one app change (`side: app`): its operation, the user's key, and the
    /// attributes it writes (`values` as `attributes` describes them; the key of a rename,
    /// the group of a membership change).
    static func appChange(
        _ change: AppChange, time: Timestamp, runID: String, directory: String, outcome: Outcome, message: String?,
        attributes: ([String: AppValue]) -> [AuditAttribute]
    ) -> AuditRecord {
        let (operation, key, changed): (String, String, [AuditAttribute]) = switch change {
        case .create(let user): ("create", user.key, attributes(user.values))
        case .update(let key, let values): ("update", key, attributes(values))
        case .setManaged(let key, let managed): (managed ? "tag" : "untag", key, [])
        case .setActive(let key, let active): (active ? "activate" : "deactivate", key, [])
        case .rename(let from, let to): ("rename", to, [AuditAttribute(name: "key", old: [from], new: [to])])
        case .addMembership(let user, let group): ("addMembership", user, [AuditAttribute(name: "group", new: [group])])
        case .removeMembership(let user, let group): ("removeMembership", user, [AuditAttribute(name: "group", old: [group])])
        }
        return AuditRecord(time: time, runID: runID, side: .app, operation: operation, directory: directory,
                           key: key, attributes: changed, outcome: outcome, message: message)
    }
}
