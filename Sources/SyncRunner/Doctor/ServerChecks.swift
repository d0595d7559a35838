import DirectoryModel
import LDAPClient
import SyncConfig
import SyncEngine
#if canImport(Glibc)
import Glibc
#endif

/// What the doctor checks on a bound connection: the root DSE, the base DNs, the schema
/// against the mapping, the users' object classes against the write-back attributes, the
/// timestamp values against the pattern, the clock, and the size limit.
///
/// Cheap on a big directory: a sample of at most ``sampleSize`` users (attributes
/// `objectClass`, the key and the timestamp), and one id-only paged listing per scope
/// (the size-limit probe) that stops at the first error.
struct ServerChecks {
    let directory: DirectoryConfiguration
    let configuration: Configuration
    let connection: LDAPConnection
    /// The DN the connection is bound as (the read principal, or the write principal
    /// when the read principal cannot bind).
    let account: String
    private(set) var checks: [DoctorCheck] = []

    /// The areas a bound connection is needed for, with what an administrator calls them,
    /// for the SKIP lines when no principal binds.
    static let areas: [(area: String, what: String)] = [
        ("rootDSE", "root DSE (paged results, vendor)"), ("base", "base DNs"),
        ("schema", "mapped attributes in the server's schema"), ("objectClass", "object classes of the users"),
        ("timestamp", "timestamp values against the pattern"), ("clock", "clock skew"), ("sizeLimit", "size limit"),
    ]

    /// How many users the object-class and timestamp checks read.
    static let sampleSize = 50

    init(directory: DirectoryConfiguration, configuration: Configuration, connection: LDAPConnection, account: String) {
        self.directory = directory
        self.configuration = configuration
        self.connection = connection
        self.account = account
    }

    mutating func add(_ status: DoctorCheck.Status, _ area: String, _ summary: String, advice: String? = nil) {
        checks.append(DoctorCheck(status, directory: directory.name, area: area, summary, advice: advice))
    }

    mutating func run() {
        let rootDSE = checkRootDSE()
        let basesExist = checkBases(rootDSE)
        let schema = checkSchema()
        let sample = basesExist.users ? readSample() : nil
        if let sample, let schema {
            checkObjectClasses(sample, schema: schema, isActiveDirectory: rootDSE?.isActiveDirectory ?? (directory.type == .ad))
        } else {
            add(.skip, "objectClass", "object classes of the users: not checked",
                advice: !basesExist.users ? "the user base DN cannot be read (see above)" : schema == nil ? "the schema cannot be read (see above)" : "no user could be read (see above)")
        }
        if let sample {
            checkTimestamps(sample)
        } else if !basesExist.users, let (base, fallback) = readTimestampsElsewhere(rootDSE, groupsBaseExists: basesExist.groups) {
            // A mistyped user base must not hide a wrong pattern: one doctor run should
            // name every problem, so the timestamps are read from entries that exist.
            checkTimestamps(fallback, source: " (read from entries under \(base): the user base cannot be read)")
        } else {
            add(.skip, "timestamp", "timestamp values against the pattern: not checked",
                advice: basesExist.users ? "no user could be read (see above)" : "the user base DN cannot be read (see above)")
        }
        if basesExist.users { checkTransforms(schema: schema) }
        checkClock(rootDSE)
        checkSizeLimit(basesExist)
        if directory.deletions == .tombstones { checkTombstones(rootDSE) }
        if directory.deletions == .everyRun, basesExist.users { checkContentSync(rootDSE) }
    }

    // MARK: Root DSE

    private mutating func checkRootDSE() -> RootDSE? {
        let rootDSE: RootDSE
        do {
            rootDSE = try connection.readRootDSE()
        } catch {
            add(.fail, "rootDSE", "root DSE: cannot be read: \(error)",
                advice: "the server must let the sync account read the root DSE (the empty DN); it says whether paged results are supported")
            return nil
        }
        let vendor = Self.vendor(rootDSE)
        if rootDSE.supportsPagedResults {
            add(.pass, "rootDSE", "root DSE: paged results (1.2.840.113556.1.4.319) supported; vendor \(vendor)")
        } else {
            add(.fail, "rootDSE", "paged results not supported: the root DSE does not list the control 1.2.840.113556.1.4.319 (vendor \(vendor))",
                advice: "ldapsync reads every search in pages so that a size limit cannot cut a read short (SPEC §8); enable the paged-results control on the server, or point url at a server that offers it")
        }
        if rootDSE.isActiveDirectory, directory.type != .ad {
            add(.warn, "rootDSE", "root DSE: the server is Active Directory but type is \(directory.type.rawValue)",
                advice: "set type: ad, whose defaults are id objectGUID, key sAMAccountName, timestamp whenChanged with the ad pattern")
        } else if !rootDSE.isActiveDirectory, directory.type == .ad {
            add(.warn, "rootDSE", "root DSE: type is ad but the server (vendor \(vendor)) does not announce Active Directory capabilities",
                advice: "set type: openldap or generic unless this really is Active Directory or Samba")
        }
        if rootDSE.isActiveDirectory, directory.pageSize > 1000 {
            add(.warn, "rootDSE", "pageSize \(directory.pageSize) is above Active Directory's MaxPageSize of 1000",
                advice: "set pageSize: 1000 (AD returns at most MaxPageSize entries per page)")
        }
        return rootDSE
    }

    private static func vendor(_ rootDSE: RootDSE) -> String {
        if let name = rootDSE.vendorName { return [name, rootDSE.vendorVersion].compactMap { $0 }.joined(separator: " ") }
        if rootDSE.isActiveDirectory { return "Active Directory" }
        let structural = (rootDSE.entry["structuralObjectClass"] ?? []).compactMap { String(validating: $0, as: UTF8.self) }
        if structural.contains(where: { $0.lowercased() == "openldaprootdse" }) { return "OpenLDAP" }
        return "not reported"
    }

    // MARK: Base DNs

    private mutating func checkBases(_ rootDSE: RootDSE?) -> (users: Bool, groups: Bool) {
        let users = checkBase(directory.users.base, key: "users.base", rootDSE: rootDSE)
        let groups = directory.groups.map { checkBase($0.base, key: "groups.base", rootDSE: rootDSE) } ?? false
        return (users, groups)
    }

    private mutating func checkBase(_ dn: String, key: String, rootDSE: RootDSE?) -> Bool {
        let contexts = rootDSE.map { $0.namingContexts.isEmpty ? "" : " (the server's naming contexts: \($0.namingContexts.joined(separator: "; ")))" } ?? ""
        do {
            guard try connection.readEntry(dn: dn, attributes: ["1.1"]) != nil else {
                add(.fail, "base", "base DN \(dn) is not visible to the sync account (\(key))",
                    advice: "the entry exists only if the account may read it: grant it read access to \(dn) and below")
                return false
            }
            add(.pass, "base", "base DN \(dn) exists (\(key))")
            return true
        } catch let error as LDAPError where error.code == .noSuchObject {
            let closest = error.matchedDN.map { "the closest entry that exists is \($0); " } ?? ""
            add(.fail, "base", "base DN \(dn) does not exist (\(key))",
                advice: "\(closest)correct \(key) of directory \(directory.name)\(contexts)")
            return false
        } catch let error as LDAPError where error.code == .invalidDNSyntax {
            add(.fail, "base", "base DN \(dn) is not a valid DN (\(key))", advice: "correct \(key) of directory \(directory.name) (RFC 4514)")
            return false
        } catch {
            add(.fail, "base", "base DN \(dn) cannot be read (\(key)): \(error)",
                advice: "the sync account needs read access to \(dn)")
            return false
        }
    }

    // MARK: Schema

    /// Binary syntaxes (octet string, JPEG, binary, certificate): values that are not text.
    private static let binarySyntaxes: Set<String> = [
        "1.3.6.1.4.1.1466.115.121.1.40", "1.3.6.1.4.1.1466.115.121.1.28", "1.3.6.1.4.1.1466.115.121.1.5",
        "1.3.6.1.4.1.1466.115.121.1.8", "1.3.6.1.4.1.1466.115.121.1.9", "1.3.6.1.4.1.1466.115.121.1.10",
    ]

    private mutating func checkSchema() -> Schema? {
        let schema: Schema
        do {
            schema = try connection.readSchema()
        } catch {
            add(.fail, "schema", "schema: the server's schema cannot be read: \(error)",
                advice: "the sync account must be able to read the subschema entry the root DSE names (subschemaSubentry)")
            return nil
        }
        for (name, key) in [(directory.users.id, "users.id"), (directory.users.key, "users.key"), (directory.timestamp.attribute, "timestamp.attribute")]
        where schema.attributeType(name) == nil {
            add(.fail, "schema", "attribute \(name) is not in the server's schema (\(key))",
                advice: "correct \(key) of directory \(directory.name); type: \(directory.type.rawValue) sets its default")
        }
        for (index, mapping) in configuration.attributes.enumerated() {
            checkMapping(mapping, index: index, schema: schema)
        }
        return schema
    }

    private mutating func checkMapping(_ mapping: AttributeMapping, index: Int, schema: Schema) {
        let name = mapping.ldap
        let writesBack = mapping.direction != .fromLDAP
        guard let type = schema.attributeType(name) else {
            add(.fail, "schema", "attribute \(name) is not in the server's schema",
                advice: "check the spelling in attributes[\(index)].ldap, or load the schema that defines it (OpenLDAP: an olcSchemaConfig entry under cn=schema,cn=config; AD: a schema extension)")
            return
        }
        if writesBack, type.isNoUserModification {
            add(.fail, "schema", "attribute \(name) cannot be written back: the server's schema marks it NO-USER-MODIFICATION",
                advice: "only the server sets \(name): make attributes[\(index)] direction: from-ldap")
            return
        }
        if mapping.multiValued, type.isSingleValued {
            add(writesBack ? .fail : .warn, "schema", "attribute \(name) is single-valued in the server's schema but multiValued: true",
                advice: writesBack ? "set multiValued: false in attributes[\(index)]: writing several values would fail with a constraint violation"
                    : "set multiValued: false in attributes[\(index)]")
            return
        }
        if !mapping.binary, let syntax = type.syntax.map(Self.syntaxOID), Self.binarySyntaxes.contains(syntax) {
            add(.warn, "schema", "attribute \(name) holds binary values (syntax \(syntax)) but binary is not set",
                advice: "set binary: true in attributes[\(index)] so its values are kept as bytes (a BLOB column)")
            return
        }
        let shape = type.isSingleValued ? "single-valued" : mapping.multiValued ? "multi-valued" : "multi-valued; mapped single-valued: the app gets the first value"
        add(.pass, "schema", "attribute \(name) is in the server's schema (\(shape))")
    }

    /// `1.3.6.1.4.1.1466.115.121.1.15{256}` → the OID without its length bound.
    private static func syntaxOID(_ syntax: String) -> String {
        String(syntax.prefix { $0 != "{" })
    }

    // MARK: The users sample

    /// A few users in scope: DN, object classes and timestamp values.
    struct SampleUser {
        var dn: String
        var objectClasses: [String]
        var timestamps: [[UInt8]]
    }

    private struct SampleFull: Error {}

    private mutating func readSample() -> [SampleUser]? {
        var sample: [SampleUser] = []
        let request = SearchRequest(base: directory.users.base, scope: searchScope(directory.users.scope), filter: directory.users.filter,
                                    attributes: ["objectClass", directory.timestamp.attribute.description],
                                    pageSize: Self.sampleSize)
        do {
            try connection.search(request) { entry in
                let classes = (entry.values(of: "objectClass") ?? []).compactMap { String(validating: $0, as: UTF8.self) }
                sample.append(SampleUser(dn: entry.dn, objectClasses: classes,
                                         timestamps: entry.values(of: directory.timestamp.attribute) ?? []))
                if sample.count >= Self.sampleSize { throw SampleFull() }
            }
        } catch is SampleFull {
            // Enough users read; the search was abandoned.
        } catch {
            add(.fail, "base", "users: cannot search \(directory.users.base) with \(directory.users.filter): \(error)",
                advice: "check users.base, users.scope and users.filter of directory \(directory.name), and the sync account's read access")
            return nil
        }
        guard !sample.isEmpty else {
            add(.warn, "base", "users: no entry under \(directory.users.base) matches \(directory.users.filter)",
                advice: "a run would find no users: check users.base, users.scope and users.filter of directory \(directory.name)")
            return nil
        }
        return sample
    }

    // MARK: Transforms (SPEC §5)

    /// How many users the transform check reads.
    static let transformSampleSize = 1_000

    /// A `both` attribute's transform must give back every value unchanged (SPEC §5),
    /// otherwise a value bounces between the sides for ever; a run refuses such a user.
    /// Checked on the directory's data: the values of at most ``transformSampleSize``
    /// users, carried to the app and back. Only when some `both` attribute has a transform.
    private mutating func checkTransforms(schema: Schema?) {
        guard let policy = try? PolicyBuilder.policy(configuration, schema: schema) else { return }
        let mapped = policy.attributes.filter { $0.direction == .both && $0.transform != nil }
        guard !mapped.isEmpty else { return }
        var checked: [AttributeName: Int] = [:]
        var failed: [AttributeName: (count: Int, dn: String)] = [:]
        let request = SearchRequest(base: directory.users.base, scope: searchScope(directory.users.scope), filter: directory.users.filter,
                                    attributes: mapped.map(\.ldap.description), pageSize: 500)
        var read = 0
        do {
            try connection.search(request) { entry in
                read += 1
                for attribute in mapped {
                    guard let values = entry.values(of: attribute.ldap), !values.isEmpty else { continue }
                    checked[attribute.ldap, default: 0] += 1
                    let multiValued = attribute.kind == .multiText
                    let roundTrips = (try? Transforms.appValue(fromLDAP: values, transform: attribute.transform, multiValued: multiValued))
                        .map { Transforms.roundTrips(app: $0, transform: attribute.transform, multiValued: multiValued) } ?? false
                    if !roundTrips { failed[attribute.ldap] = ((failed[attribute.ldap]?.count ?? 0) + 1, failed[attribute.ldap]?.dn ?? entry.dn) }
                }
                if read >= Self.transformSampleSize { throw SampleFull() }
            }
        } catch is SampleFull {
            // Enough users read.
        } catch {
            add(.warn, "transform", "transforms of both attributes: not checked: cannot read the users: \(error)")
            return
        }
        for attribute in mapped {
            let name = "\(attribute.ldap) (\(attribute.transform.map { "\($0)" } ?? ""))"
            if let failure = failed[attribute.ldap] {
                add(.fail, "transform", "the transform of \(name) does not round-trip the directory's values: \(failure.count) of the \(checked[attribute.ldap] ?? 0) users checked, such as \(failure.dn)",
                    advice: "a direction: both attribute must come back unchanged, or a run refuses the user (value invalid); change the transform, or make the attribute from-ldap")
            } else {
                add(.pass, "transform", "the transform of \(name) round-trips the values of the \(checked[attribute.ldap] ?? 0) users checked")
            }
        }
    }

    // MARK: Object classes

    private mutating func checkObjectClasses(_ sample: [SampleUser], schema: Schema, isActiveDirectory: Bool) {
        let writeBack = configuration.attributes.filter { $0.direction != .fromLDAP && schema.attributeType($0.ldap) != nil }
        guard !writeBack.isEmpty else {
            add(.pass, "objectClass", "object classes: no attribute is written back (direction both or to-ldap), nothing to check")
            return
        }
        var allowedByClasses: [[String]: Set<String>] = [:]
        var failed = false
        for mapping in writeBack {
            // The users lacking it, grouped by their object classes.
            var refused: [[String]: [String]] = [:]
            for user in sample {
                let classes = user.objectClasses.filter { $0.lowercased() != "top" }.sorted { $0.lowercased() < $1.lowercased() }
                let allowed = allowedByClasses[classes] ?? schema.allowedAttributes(forObjectClasses: user.objectClasses)
                allowedByClasses[classes] = allowed
                let names = schema.attributeType(mapping.ldap).map { [$0.oid] + $0.names } ?? [mapping.ldap.description]
                if !names.contains(where: { allowed.contains($0.lowercased()) }) {
                    refused[classes, default: []].append(user.dn)
                }
            }
            for (classes, users) in refused.sorted(by: { $0.value.count > $1.value.count }) {
                failed = true
                let named = classes.isEmpty ? "no object class" : classes.count == 1 ? "object class \(classes[0])" : "object classes \(classes.joined(separator: ", "))"
                let verb = classes.count > 1 ? "do not allow" : "does not allow"
                let example = "\(users.count) of the \(sample.count) users checked, such as \(users[0])"
                let auxiliaries = schema.objectClasses
                    .filter { objectClass in objectClass.kind == .auxiliary && (objectClass.may + objectClass.must).contains { AttributeName($0) == mapping.ldap } }
                    .compactMap { $0.names.first }
                let fix = auxiliaries.isEmpty
                    ? "extend the schema with an auxiliary object class that allows \(mapping.ldap), and add it to these entries"
                    : "add the auxiliary object class \(auxiliaries.joined(separator: " or ")) to these entries"
                if isActiveDirectory {
                    add(.warn, "objectClass", "\(named) \(verb) \(mapping.ldap) in the subschema (\(example))",
                        advice: "Active Directory adds auxiliary classes its subschema does not show for an entry: confirm with ldapsync doctor --write-test KEY; if writes fail, \(fix)")
                } else {
                    add(.fail, "objectClass", "\(named) \(verb) \(mapping.ldap) (\(example))",
                        advice: "write-back of \(mapping.ldap) to them would fail with objectClassViolation: \(fix)")
                }
            }
        }
        if !failed {
            add(.pass, "objectClass", "object classes of the \(count(sample.count, "user", "users")) checked allow the write-back attributes \(writeBack.map(\.ldap.description).joined(separator: ", "))")
        }
    }

    // MARK: Content sync

    /// How `deletions: every-run` will list the scope: through RFC 4533 refreshes when the
    /// server offers them for `entryUUID` ids (a refresh of the base entry shows it serves
    /// the sync account), else page by page.
    private mutating func checkContentSync(_ rootDSE: RootDSE?) {
        guard let rootDSE else { return }
        guard directory.users.id.folded == "entryuuid" else {
            add(.pass, "deletions", "deletions: every-run lists the scope page by page (content-sync refreshes name entryUUID; users.id is \(directory.users.id))")
            return
        }
        guard rootDSE.supportedControls.contains(ContentSync.requestControl) else {
            add(.pass, "deletions", "deletions: every-run lists the scope page by page: the server does not offer content sync (RFC 4533, control \(ContentSync.requestControl))",
                advice: "on OpenLDAP the syncprov overlay on the database offers it; a large scope is then listed in a fraction of the time (docs/operations.md)")
            return
        }
        do {
            let refresh = try connection.contentSyncRefresh(base: directory.users.base, scope: .base, filter: "(objectClass=*)", cookie: nil) { _, _ in }
            guard refresh.cookie != nil else {
                add(.warn, "deletions", "deletions: the server answered a content-sync refresh of \(directory.users.base) without a cookie; every-run lists the scope page by page")
                return
            }
            add(.pass, "deletions", "deletions: every-run lists the scope through content-sync refreshes (RFC 4533) from the previous run's cookie")
        } catch {
            add(.warn, "deletions", "deletions: a content-sync refresh of \(directory.users.base) was refused: \(error); every-run lists the scope page by page",
                advice: "let the sync account read \(directory.users.base) with the sync control, or leave it: the paged listing finds the same deletions")
        }
    }

    // MARK: Tombstones

    /// `deletions: tombstones` reads deleted objects with the Show Deleted control; the
    /// sync account must be allowed to (by default only administrators list
    /// `CN=Deleted Objects`). One entry is enough to know.
    private mutating func checkTombstones(_ rootDSE: RootDSE?) {
        guard let rootDSE, let usersBase = try? DNKey.make(directory.users.base),
              let context = DirectoryRun.namingContext(containing: usersBase, root: rootDSE) else {
            add(.fail, "tombstones", "tombstones: no naming context of the server holds users.base \(directory.users.base)",
                advice: "deletions: tombstones works with Active Directory only; use deletions: every-run for directory \(directory.name)")
            return
        }
        let request = SearchRequest(base: context, scope: .subtree, filter: "(isDeleted=TRUE)", attributes: ["1.1"], pageSize: 1,
                                    controls: [LDAPControlRequest(oid: DirectoryRun.showDeletedControl, isCritical: true)])
        var seen = 0
        do {
            try connection.search(request) { _ in
                seen += 1
                throw SampleFull()
            }
        } catch is SampleFull {
        } catch {
            add(.fail, "tombstones", "tombstones: deleted objects under \(context) cannot be read with the Show Deleted control: \(error)",
                advice: "give the sync account List Contents and Read Property on CN=Deleted Objects,\(context) (dsacls \"CN=Deleted Objects,\(context)\" /takeownership, then /G DOMAIN\\account:LCRP), or use deletions: every-run for directory \(directory.name)")
            return
        }
        add(.pass, "tombstones", "tombstones: deleted objects under \(context) can be read with the Show Deleted control (\(seen == 0 ? "none yet" : "at least one found"))")
    }

    // MARK: Timestamps

    /// When the user base cannot be read: up to `sampleSize` entries carrying the
    /// timestamp attribute under the group base, or else under a naming context.
    private func readTimestampsElsewhere(_ rootDSE: RootDSE?, groupsBaseExists: Bool) -> (base: String, sample: [SampleUser])? {
        var bases: [String] = []
        if groupsBaseExists, let groups = directory.groups { bases.append(groups.base) }
        bases += rootDSE?.namingContexts ?? []
        let attribute = directory.timestamp.attribute
        for base in bases {
            var sample: [SampleUser] = []
            let request = SearchRequest(base: base, scope: .subtree, filter: "(\(attribute)=*)",
                                        attributes: [attribute.description], pageSize: Self.sampleSize)
            do {
                try connection.search(request) { entry in
                    sample.append(SampleUser(dn: entry.dn, objectClasses: [], timestamps: entry.values(of: attribute) ?? []))
                    if sample.count >= Self.sampleSize { throw SampleFull() }
                }
            } catch is SampleFull {
            } catch {
                continue
            }
            if !sample.isEmpty { return (base, sample) }
        }
        return nil
    }

    private mutating func checkTimestamps(_ sample: [SampleUser], source: String = "") {
        let attribute = directory.timestamp.attribute
        let values = sample.flatMap(\.timestamps).map { String(decoding: $0, as: UTF8.self) }
        guard let example = values.first else {
            add(.fail, "timestamp", "timestamp attribute \(attribute) is missing from the \(count(sample.count, "user", "users")) checked",
                advice: "set timestamp.attribute of directory \(directory.name) to the attribute the server keeps (modifyTimestamp on OpenLDAP and 389 DS, whenChanged on Active Directory), and let the sync account read it")
            return
        }
        if let bad = values.first(where: { (try? Timestamp(generalizedTime: $0)) == nil }) {
            add(.fail, "timestamp", "timestamp attribute \(attribute) holds \(bad), which is not a GeneralizedTime",
                advice: "set timestamp.attribute of directory \(directory.name) to the server's modification time attribute (modifyTimestamp, whenChanged)")
            return
        }
        guard let pattern = try? TimestampPattern(directory.timestamp.pattern) else { return }  // the loader checked it
        guard let mismatch = values.first(where: { (try? pattern.parse($0)) == nil }) else {
            add(.pass, "timestamp", "timestamps: server values look like \(example) and match the pattern \(pattern)\(source)")
            return
        }
        let guess = Self.guessPattern(mismatch)
        add(.fail, "timestamp", "server timestamps look like \(mismatch) but the pattern is \(pattern.text): use \(guess.map { $0.text } ?? "an explicit pattern")\(source)",
            advice: guess.map { "set timestamp.pattern: \($0.text.contains("'") ? "\"\($0.text)\"" : $0.text) for directory \(directory.name): the pattern decides how the cursor is written into the search filter" }
                ?? "write timestamp.pattern for directory \(directory.name) to match \(mismatch) (docs/configuration.md, timestamps)")
    }

    /// The pattern that reads `value`: `openldap`, `ad`, or an explicit pattern built from
    /// its shape (`yyyyMMddHHmmss.SSS'Z'`); nil when none reads it.
    static func guessPattern(_ value: String) -> TimestampPattern? {
        for preset in [TimestampPattern.openldap, .ad] where (try? preset.parse(value)) != nil {
            return preset
        }
        let bytes = Array(value.utf8)
        guard bytes.count >= 14, bytes[..<14].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        var text = "yyyyMMddHHmmss"
        var rest = bytes[14...]
        if let first = rest.first, first == UInt8(ascii: ".") || first == UInt8(ascii: ",") {
            let digits = rest.dropFirst().prefix { $0 >= 0x30 && $0 <= 0x39 }
            text += String(UnicodeScalar(first)) + String(repeating: "S", count: digits.count)
            rest = rest.dropFirst(1 + digits.count)
        }
        let literal = String(decoding: rest, as: UTF8.self)
        if literal == "Z" {
            text += "'Z'"
        } else if !literal.isEmpty {
            text += "'" + literal.replacingOccurrences("'", with: "''") + "'"
        }
        guard let pattern = try? TimestampPattern(text), (try? pattern.parse(value)) != nil else { return nil }
        return pattern
    }

    // MARK: Clock

    private mutating func checkClock(_ rootDSE: RootDSE?) {
        guard let text = rootDSE?.currentTime else {
            add(.skip, "clock", "clock skew: not checked",
                advice: rootDSE == nil ? "the root DSE cannot be read (see above)" : "the server does not report its time (no currentTime in the root DSE)")
            return
        }
        guard let serverTime = try? Timestamp(generalizedTime: text) else {
            add(.warn, "clock", "clock skew: the server's currentTime \(text) is not a GeneralizedTime", advice: "nothing to compare; ldapsync takes cursors from entry timestamps only")
            return
        }
        let skew = serverTime - wallClock()
        let seconds = abs(skew.components.seconds)
        let direction = skew > .zero ? "ahead of" : "behind"
        if seconds <= 60 {
            add(.pass, "clock", "clock skew: the server's clock is \(seconds) s \(direction) this machine's")
        } else {
            add(.warn, "clock", "clock skew: the server's clock is \(seconds) s \(direction) this machine's",
                advice: "synchronise both clocks with NTP: cursors come from server timestamps, but dates you type (cursor set, run --since) and the audit log use this machine's clock")
        }
    }

    // MARK: Size limit

    /// An id-only paged listing of each scope, as a full run makes: a size, time or
    /// administrative limit on the sync account fails it after some entries.
    private mutating func checkSizeLimit(_ bases: (users: Bool, groups: Bool)) {
        var scopes: [(name: String, base: String, scope: ScopeSetting, filter: String)] = []
        if bases.users { scopes.append(("user", directory.users.base, directory.users.scope, directory.users.filter)) }
        if bases.groups, let groups = directory.groups { scopes.append(("group", groups.base, groups.scope, groups.filter)) }
        guard !scopes.isEmpty else {
            add(.skip, "sizeLimit", "size limit: not checked", advice: "the base DNs cannot be read (see above)")
            return
        }
        var listed: [String] = []
        for scope in scopes {
            var entries = 0
            let request = SearchRequest(base: scope.base, scope: searchScope(scope.scope), filter: scope.filter,
                                        attributes: ["1.1"], pageSize: directory.pageSize)
            do {
                let summary = try connection.search(request) { _ in entries += 1 }
                listed.append("\(scope.name) scope \(count(summary.entries, "entry", "entries")) in \(count(summary.pages, "page", "pages"))")
            } catch let error as LDAPError {
                switch error.code {
                case .sizeLimitExceeded:
                    add(.fail, "sizeLimit", "size limit \(entries) applies to the sync account \(account): paged searches will fail after \(entries) entries (\(scope.name) scope)",
                        advice: "raise the limit for that account (OpenLDAP: olcLimits: dn.exact=\"\(account)\" size=unlimited on the database; 389 DS: nsSizeLimit: -1 on the account; AD: MaxResultSetSize of the LDAP policy); until then every full run fails and nothing is deactivated")
                case .adminLimitExceeded:
                    add(.fail, "sizeLimit", "administrative limit hit after \(entries) entries for the sync account \(account) (\(scope.name) scope): \(error.diagnostic ?? "adminLimitExceeded")",
                        advice: "raise the limit for that account (OpenLDAP: olcLimits size.unchecked / size.pr for it; AD: the LDAP policy), or index the filter's attributes")
                case .timeLimitExceeded:
                    add(.fail, "sizeLimit", "time limit hit after \(entries) entries for the sync account \(account) (\(scope.name) scope)",
                        advice: "raise the time limit for that account (OpenLDAP: olcLimits time=unlimited; AD: MaxQueryDuration)")
                default:
                    add(.fail, "sizeLimit", "size limit: the id-only listing of the \(scope.name) scope failed after \(entries) entries: \(error)",
                        advice: BindDiagnosis.connectionAdvice(error, directory: directory))
                }
                return
            } catch {
                add(.fail, "sizeLimit", "size limit: the id-only listing of the \(scope.name) scope failed after \(entries) entries: \(error)",
                    advice: "see the server's log for the search of \(scope.base)")
                return
            }
        }
        add(.pass, "sizeLimit", "size limit: id-only listings read every entry without hitting a limit (\(listed.joined(separator: ", ")))")
    }
}

func searchScope(_ setting: ScopeSetting) -> SearchScope {
    switch setting {
    case .base: .base
    case .one: .oneLevel
    case .sub: .subtree
    }
}

extension String {
    /// Every `target` replaced by `replacement` (no Foundation in this module).
    func replacingOccurrences(_ target: Character, with replacement: String) -> String {
        var result = ""
        for character in self { if character == target { result += replacement } else { result.append(character) } }
        return result
    }
}
