import AppStore
import DirectoryModel
import Foundation
import LDAPClient
import Logging
import SambaSupport
import SyncConfig
import SyncRunner

/// An OU of its own on the process's shared Samba AD DC (`SambaDC.shared()`), with users
/// in `OU=People` below it, and a temporary directory with a configuration, a password
/// file, an SQLite app store and a state directory: one AD sync setup per test. The
/// configuration binds as Administrator over ldaps with the DC's CA.
final class ADStateEnvironment {
    let dc: SambaDC
    /// `OU=state-xxxxxxxx,DC=example,DC=test`
    let ou: String
    /// `OU=People,<ou>`: `users.base`.
    let peopleDN: String
    /// `OU=Elsewhere,<ou>`: out of the scope, for moves.
    let elsewhereDN: String
    let directory: URL
    var appPath: String { directory.appendingPathComponent("app.db").path }
    var configPath: String { directory.appendingPathComponent("ldapsync.yaml").path }
    private(set) var outputLines: [String] = []

    /// Why the AD tests cannot run here (they skip and print it), or nil.
    static var unavailable: String? { SambaDC.availability() }

    /// The prefix of this environment's user names: `sAMAccountName` is unique in the
    /// whole domain, which other tests share.
    let prefix: String

    /// - Parameters:
    ///   - users: numbered users `key(1)` … `key(users)` in `OU=People`, enabled.
    ///   - userAccountControl: another `userAccountControl` for some of them, by number.
    init(users: Int, userAccountControl: [Int: Int] = [:]) throws {
        let dc = try SambaDC.shared()
        let prefix = String(ADFixtures.uniqueName("s").filter { $0 != "-" }.prefix(9))
        let name = ADFixtures.uniqueName("state")
        let ou = ADFixtures.organizationalUnitDN(name, in: dc.baseDN)
        let people = ADFixtures.organizationalUnitDN("People", in: ou)
        var ldif = [ADFixtures.organizationalUnit(name, in: dc.baseDN), ADFixtures.organizationalUnit("People", in: ou),
                    ADFixtures.organizationalUnit("Elsewhere", in: ou)]
        for number in 0..<users {
            var user = ADFixtures.numberedUser(number + 1, prefix: prefix)
            if let flags = userAccountControl[number + 1] { user.userAccountControl = flags }
            ldif.append(ADFixtures.user(user, in: people))
        }
        try dc.add(ldif: ldif.joined(separator: "\n"))
        self.dc = dc
        self.prefix = prefix
        self.ou = ou
        peopleDN = people
        elsewhereDN = ADFixtures.organizationalUnitDN("Elsewhere", in: ou)
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ldapsync-adstate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try writeFile("admin.pw", dc.adminPassword)
    }

    deinit {
        try? FileManager.default.removeItem(at: directory)
        try? dc.delete(dn: ou, recursive: true)
    }

    /// The app key (`sAMAccountName`) of user `number`.
    func key(_ number: Int) -> String { ADFixtures.userName(number, prefix: prefix) }

    func userDN(_ number: Int) -> String { ADFixtures.commonNameDN(key(number), in: peopleDN) }

    /// A configuration for the DC: `type: ad` over ldaps; `usersExtra` is spliced into the
    /// directory's users mapping, `directoryExtra` into the directory.
    func yaml(bindDN: String? = nil, passwordFile: String = "admin.pw", usersExtra: String = "",
              directoryExtra: String = "deletions: tombstones", users: String = "{ autoDeactivate: true }",
              writeBack: Bool = false, timestampPattern: String? = nil) -> String {
        """
        version: 1
        state: state
        directories:
          - name: ad
            type: ad
            url: "\(dc.ldapsURL)"
            tls: { caFile: "\(dc.caFile)" }
            bind: { dn: "\(bindDN ?? dc.adminDN)", passwordFile: \(passwordFile) }
            users: { base: "\(peopleDN)"\(usersExtra.isEmpty ? "" : ", " + usersExtra) }
            timestamp: { overlap: 0s\(timestampPattern.map { ", pattern: \($0)" } ?? "") }
            \(directoryExtra)
        app: { path: app.db }
        audit: { path: audit.jsonl }
        attributes:
          - { ldap: mail, app: email }
        users: \(users)
        safety: { maxDeactivations: 100%, maxGroupRemovals: 100% }
        writeBack: { enabled: \(writeBack) }
        """
    }

    /// Writes the configuration, loads it, and creates the app tables.
    @discardableResult
    func configure(_ yaml: String) throws -> Configuration {
        try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)
        let configuration = try ConfigurationLoader.load(path: configPath)
        let store = try SQLiteAppStore(path: appPath, schema: AppSchemaBuilder.schema(configuration))
        try store.createDefaultSchema()
        return configuration
    }

    /// Runs a sync with the configuration on disk and returns its one directory's summary.
    func run(_ options: RunOptions = RunOptions()) throws -> DirectorySummary {
        let configuration = try ConfigurationLoader.load(path: configPath)
        outputLines = []
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let runner = SyncRunner(configuration: configuration, logger: logger, output: { [weak self] in self?.outputLines.append($0) })
        return try runner.run(options).summaries[0]
    }

    func doctor() -> DoctorReport {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return DoctorReport(checks: Doctor(configurationPath: configPath, logger: logger).run())
    }

    func appStore() throws -> SQLiteAppStore {
        let configuration = try ConfigurationLoader.load(path: configPath)
        return try SQLiteAppStore(path: appPath, schema: AppSchemaBuilder.schema(configuration))
    }

    /// Every managed app user by key.
    func managedUsers() throws -> [String: AppUser] {
        var users: [String: AppUser] = [:]
        try appStore().forEachManagedUser { users[$0.key] = $0 }
        return users
    }

    /// The app (de)activates a user by itself.
    func setActive(_ key: String, _ active: Bool) throws {
        try appStore().apply([.setActive(key: key, active)])
    }

    /// A connection bound as Administrator.
    func administrator() throws -> LDAPConnection {
        var options = ConnectionOptions()
        options.caFile = dc.caFile
        let connection = try LDAPConnection(url: dc.ldapsURL, options: options)
        try connection.bind(dn: dc.adminDN, password: Secret(dc.adminPassword))
        return connection
    }

    /// The account's `userAccountControl` as AD holds it now.
    func userAccountControl(_ number: Int) throws -> Int? {
        let entry = try administrator().readEntry(dn: userDN(number), attributes: ["userAccountControl"])
        return entry?["userAccountControl"]?.first.flatMap { Int(String(decoding: $0, as: UTF8.self)) }
    }

    /// Waits until a change made now carries a `whenChanged` clearly newer than the last
    /// run's cursor (one-second resolution, and the next read reaches back by the previous
    /// read's duration).
    func waitForNextSecond() {
        usleep(2_100_000)
    }

    /// Replaces a file in the environment's directory (mode 0600).
    func writeFile(_ name: String, _ contents: String) throws {
        let path = directory.appendingPathComponent(name).path
        try? FileManager.default.removeItem(atPath: path)
        guard FileManager.default.createFile(atPath: path, contents: Data(contents.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
    }
}
