import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension SlapdServer {
    /// What the private directory looks like. The defaults give `dc=example,dc=com`
    /// with `ou=people`, `ou=groups` and `ou=services`, a root DN, and two service
    /// accounts under `ou=services`.
    public struct Configuration: Sendable {
        /// The naming context of the data database. Its first RDN must be `dc`, `o` or `ou`.
        public var suffix = "dc=example,dc=com"
        /// The database's `olcRootDN`: bypasses access control and limits. Not an entry.
        public var rootDN = "cn=admin,dc=example,dc=com"
        public var rootPassword = "admin-secret"
        /// A non-root account like the one ldapsync runs as: no size or time limit
        /// (`olcLimits`), read access to everything, write access to `ou=people` and
        /// `ou=groups`. Its first RDN must be `cn` or `uid`; its parent must be the
        /// suffix or one of the three base OUs.
        public var syncDN = "cn=sync,ou=services,dc=example,dc=com"
        public var syncPassword = "sync-secret"
        /// A non-root account that reads like any authenticated user and is subject to
        /// the frontend `sizeLimit`, also in paged searches.
        public var limitedDN = "cn=limited,ou=services,dc=example,dc=com"
        public var limitedPassword = "limited-secret"
        /// The frontend `olcSizeLimit`, which applies to every bind but the root DN and
        /// the sync account.
        public var sizeLimit = 500
        /// Extra `olcLimits` for the limited account (for example `size.unchecked=100`,
        /// which makes unindexed searches over more entries fail with
        /// adminLimitExceeded); nil adds none.
        public var limitedAccountLimits: String? = nil
        /// When true, a test CA and a server certificate (CN=localhost, SAN DNS:localhost
        /// and IP:127.0.0.1) are made with the openssl CLI, slapd also listens on
        /// ldaps://, and StartTLS works on ldap://. See `SlapdServer.caFile`.
        public var tls = false
        /// Which certificate slapd presents when `tls` is true: the valid one, or one
        /// that is wrong in one way (expired, for another host, from an untrusted CA…).
        public var serverCertificate: ServerCertificate = .valid
        /// Extra LDIF entries under `cn=schema,cn=config`, loaded after core, cosine,
        /// nis and inetorgperson and before the data, e.g. `Fixtures.trainingRecordSchema`.
        public var extraSchema: [String] = []
        /// `olcAccess` values for the data database, in order; they replace the
        /// defaults entirely. `nil` means `SlapdServer.defaultAccess(for:)`.
        public var access: [String]? = nil
        /// When set, the `ppolicy` overlay (password policy, draft-behera) runs on the data
        /// database with this policy as its default, stored in the entry
        /// `SlapdServer.passwordPolicyDN(for:)`. nil: no password policy.
        public var passwordPolicy: PasswordPolicy? = nil
        /// When set, the `syncprov` overlay (RFC 4533 content synchronization, what a
        /// replicated OpenLDAP runs) is on the data database, with an `entryCSN` index.
        public var syncProvider: SyncProvider? = nil
        /// slapd's debug levels (`-d`), written with its stderr to `SlapdServer.logFile`.
        /// Errors are always logged; `stats` adds one line per connection and operation.
        public var logLevels: [String] = ["stats"]
        /// How long `start` and `restart` wait for slapd to accept connections.
        public var startTimeout: Duration = .seconds(15)
        /// How long `stop` waits for slapd to exit after SIGTERM before it kills it.
        public var stopTimeout: Duration = .seconds(15)
        /// The data database's `olcDbMaxSize` in bytes: LMDB's map, sparse, so only what
        /// is used costs disk. 1 GiB holds 100k+ people; a million need several GiB.
        public var databaseMaxSize = 1_073_741_824

        public init() {}
    }

    /// The `syncprov` overlay's settings.
    public struct SyncProvider: Sendable {
        /// `olcSpSessionlog`: how many deletions (and changes out of a scope) the overlay
        /// remembers; with one that covers a cookie it answers a refresh with a delete
        /// phase. nil: none, so every refresh from a cookie has a present phase.
        public var sessionLog: Int?

        public init(sessionLog: Int? = nil) {
            self.sessionLog = sessionLog
        }
    }

    /// The identity SASL EXTERNAL on ldapi gives this process
    /// (`gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth` for root). It has
    /// `manage` access to `cn=config` and, with the default access, to the data.
    public static var externalIdentity: String {
        "gidNumber=\(getegid())+uidNumber=\(geteuid()),cn=peercred,cn=external,cn=auth"
    }

    /// The `olcAccess` values used when `Configuration.access` is nil:
    ///
    /// 1. this process's ldapi EXTERNAL identity manages everything;
    /// 2. the sync account writes `ou=people` and `ou=groups` (entries and passwords);
    /// 3. `userPassword` is for binding, changing one's own, and the sync account to read;
    /// 4. the sync account and every other authenticated user read everything else;
    ///    anonymous users see nothing.
    ///
    /// The list is public so a test can insert a rule before the defaults.
    public static func defaultAccess(for configuration: Configuration) -> [String] {
        let sync = configuration.syncDN
        let suffix = configuration.suffix
        return [
            #"to * by dn.exact="\#(externalIdentity)" manage by * break"#,
            #"to dn.subtree="ou=people,\#(suffix)" by dn.exact="\#(sync)" write by * break"#,
            #"to dn.subtree="ou=groups,\#(suffix)" by dn.exact="\#(sync)" write by * break"#,
            #"to attrs=userPassword by self write by anonymous auth by dn.exact="\#(sync)" read by * none"#,
            #"to * by dn.exact="\#(sync)" read by users read by * none"#,
        ]
    }
}

/// Where a server keeps its files, all inside one private temporary directory.
struct Layout {
    let directory: URL

    var configDirectory: URL { directory.appendingPathComponent("slapd.d") }
    var dataDirectory: URL { directory.appendingPathComponent("data") }
    var tlsDirectory: URL { directory.appendingPathComponent("tls") }
    var configLDIF: URL { directory.appendingPathComponent("config.ldif") }
    var dataLDIF: URL { directory.appendingPathComponent("data.ldif") }
    var logFile: URL { directory.appendingPathComponent("slapd.log") }
    var pidFile: URL { directory.appendingPathComponent("slapd.pid") }
    var argsFile: URL { directory.appendingPathComponent("slapd.args") }
    var rootPasswordFile: URL { directory.appendingPathComponent("root.pw") }
    var socketPath: String { directory.appendingPathComponent("ldapi").path }

    /// A fresh directory under `$TMPDIR`, or under /tmp when that would make the ldapi
    /// socket path too long for `sun_path`.
    static func create() throws -> Layout {
        let suffixLength = "/slapd.XXXXXX/ldapi".utf8.count
        let tmp = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        let base = tmp.utf8.count + suffixLength <= Loopback.maximumSocketPathLength ? tmp : "/tmp"
        let layout = Layout(directory: try makeTemporaryDirectory(prefix: "slapd.", base: base))
        for directory in [layout.configDirectory, layout.dataDirectory] {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false)
        }
        return layout
    }
}

/// Writes a file readable by its owner only.
package func writePrivateFile(_ url: URL, _ contents: String) throws {
    guard FileManager.default.createFile(atPath: url.path, contents: Data(contents.utf8), attributes: [.posixPermissions: 0o600]) else {
        throw SlapdError.launchFailed(command: "create \(url.path)", reason: String(cString: strerror(errno)))
    }
}

enum ConfigurationLDIF {
    /// The whole `cn=config` tree, for `slapadd -n0`.
    static func config(_ configuration: SlapdServer.Configuration, layout: Layout, tls: TestCertificates?) -> String {
        var global = """
            dn: cn=config
            objectClass: olcGlobal
            cn: config

            """
        global += LDIF.line("olcPidFile", layout.pidFile.path)
        global += LDIF.line("olcArgsFile", layout.argsFile.path)
        if let tls {
            global += LDIF.line("olcTLSCACertificateFile", tls.caCertificate.path)
            global += LDIF.line("olcTLSCertificateFile", tls.serverCertificate.path)
            global += LDIF.line("olcTLSCertificateKeyFile", tls.serverKey.path)
        }

        let modules = """
            dn: cn=module{0},cn=config
            objectClass: olcModuleList
            cn: module{0}
            olcModulePath: /usr/lib/ldap
            olcModuleLoad: back_mdb
            """

        let schema = """
            dn: cn=schema,cn=config
            objectClass: olcSchemaConfig
            cn: schema
            """
        let includes = ["core", "cosine", "nis", "inetorgperson"].map {
            "include: file:///etc/ldap/schema/\($0).ldif"
        }

        let frontend = """
            dn: olcDatabase={-1}frontend,cn=config
            objectClass: olcDatabaseConfig
            objectClass: olcFrontendConfig
            olcDatabase: {-1}frontend
            olcSizeLimit: \(configuration.sizeLimit)
            """

        var configDatabase = """
            dn: olcDatabase={0}config,cn=config
            objectClass: olcDatabaseConfig
            olcDatabase: {0}config

            """
        configDatabase += LDIF.line("olcAccess", #"to * by dn.exact="\#(SlapdServer.externalIdentity)" manage by * none"#)

        // olcDbMaxSize: the map is sparse, so 1 GiB (the default) costs nothing and holds 100k+ entries.
        // olcDbNoSync: a killed slapd loses nothing (commits are in the page cache);
        // only an OS crash could, and a test directory does not outlive one.
        // `eq` on modifyTimestamp is what serves `>=` ranges on generalizedTime in 2.5.
        var data = """
            dn: olcDatabase={1}mdb,cn=config
            objectClass: olcDatabaseConfig
            objectClass: olcMdbConfig
            olcDatabase: {1}mdb
            olcDbMaxSize: \(configuration.databaseMaxSize)
            olcDbNoSync: TRUE
            olcDbIndex: objectClass,uid,entryUUID eq
            olcDbIndex: modifyTimestamp eq

            """
        if configuration.syncProvider != nil { data += LDIF.line("olcDbIndex", "entryCSN eq") }
        data += LDIF.line("olcDbDirectory", layout.dataDirectory.path)
        data += LDIF.line("olcSuffix", configuration.suffix)
        data += LDIF.line("olcRootDN", configuration.rootDN)
        data += LDIF.line("olcRootPW", configuration.rootPassword)
        data += LDIF.line("olcLimits", #"dn.exact="\#(configuration.syncDN)" size=unlimited time=unlimited"#)
        if let limits = configuration.limitedAccountLimits {
            data += LDIF.line("olcLimits", #"dn.exact="\#(configuration.limitedDN)" \#(limits)"#)
        }
        for rule in configuration.access ?? SlapdServer.defaultAccess(for: configuration) {
            data += LDIF.line("olcAccess", rule)
        }

        return LDIF.join([global, modules, schema] + includes + configuration.extraSchema + [frontend, configDatabase, data])
    }

    /// The suffix entry, the three OUs and the two service accounts, for `slapadd`.
    static func baseEntries(_ configuration: SlapdServer.Configuration) throws -> String {
        let suffix = try FirstRDN(configuration.suffix)
        var top = LDIF.line("dn", configuration.suffix)
        switch suffix.attribute {
        case "dc":
            top += "objectClass: dcObject\nobjectClass: organization\n"
            top += LDIF.line("dc", suffix.value) + LDIF.line("o", suffix.value)
        case "o":
            top += "objectClass: organization\n" + LDIF.line("o", suffix.value)
        case "ou":
            top += "objectClass: organizationalUnit\n" + LDIF.line("ou", suffix.value)
        default:
            throw SlapdError.invalidConfiguration("the suffix's first RDN must be dc, o or ou, not \(suffix.attribute)")
        }
        let units = ["people", "groups", "services"].map {
            LDIF.line("dn", "ou=\($0),\(configuration.suffix)") + "objectClass: organizationalUnit\n" + "ou: \($0)\n"
        }
        let accounts = try [
            (configuration.syncDN, configuration.syncPassword, "The account ldapsync binds as"),
            (configuration.limitedDN, configuration.limitedPassword, "A reader subject to the size limit"),
        ].map { dn, password, description in
            let rdn = try FirstRDN(dn)
            var entry = LDIF.line("dn", dn)
            switch rdn.attribute {
            case "cn": entry += "objectClass: organizationalRole\n"
            case "uid": entry += "objectClass: account\n"
            default: throw SlapdError.invalidConfiguration("service account \(dn) must be named by cn or uid")
            }
            entry += "objectClass: simpleSecurityObject\n"
            entry += LDIF.line(rdn.attribute, rdn.value)
            entry += LDIF.line("description", description)
            entry += LDIF.line("userPassword", password)
            return entry
        }
        return LDIF.join([top] + units + accounts)
    }
}
