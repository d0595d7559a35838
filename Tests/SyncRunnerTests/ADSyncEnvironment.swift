import AppStore
import DirectoryModel
import Foundation
import LDAPClient
import Logging
import SambaSupport
import SyncConfig
import SyncRunner
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// An end-to-end sync setup against a real Samba 4 AD DC: a temporary directory with a
/// configuration (`type: ad`), the Administrator's password file, an SQLite app store and a
/// state directory, plus an OU of the test's own on the DC (`ou`).
///
/// Tests share one DC per process (`SambaDC.shared()`) and stay inside their own OU, with
/// account names of their own (`prefix`): `sAMAccountName` is unique in the whole domain.
/// A test that needs a domain to itself passes `SambaDC.start()`.
///
/// ```swift
/// guard let dc = ADSyncEnvironment.dc() else { return }   // prints why AD tests are skipped
/// let environment = try ADSyncEnvironment(dc: dc)
/// try environment.add(ADFixtures.users(count: 3, in: environment.ou, prefix: environment.prefix))
/// try environment.configure(environment.yaml())
/// let outcome = try environment.run()
/// ```
final class ADSyncEnvironment {
    let dc: SambaDC
    /// The test's own OU on the DC, `OU=<unique>,DC=example,DC=test`; `users.base` and
    /// `groups.base` of ``yaml(usersBase:groupsBase:attributes:groups:users:safety:directoryExtra:timestamp:extra:)`` by default.
    let ou: String
    /// A prefix for account names unique to this environment (`sAMAccountName` is unique domain-wide).
    let prefix: String
    let directory: URL
    var appPath: String { directory.appendingPathComponent("app.db").path }
    var statePath: String { directory.appendingPathComponent("state").path }
    var configPath: String { directory.appendingPathComponent("ldapsync.yaml").path }
    var auditPath: String { directory.appendingPathComponent("audit.jsonl").path }
    private(set) var outputLines: [String] = []

    /// The shared DC, or nil after printing why AD tests are skipped on this machine.
    static func dc(_ test: String = #function) -> SambaDC? {
        if let reason = SambaDC.availability() {
            print("SKIP \(test): no Samba AD DC: \(reason)")
            return nil
        }
        do {
            return try SambaDC.shared()
        } catch {
            // The machine should run a DC (availability said so): a failure to start is a failure.
            Issue.record("the shared Samba DC did not start: \(error)")
            return nil
        }
    }

    /// Creates the temporary directory and the OU `OU=<prefix>,<dc.baseDN>` on `dc`.
    init(dc: SambaDC) throws {
        self.dc = dc
        prefix = "t" + String(UUID().uuidString.prefix(6)).lowercased()
        ou = ADFixtures.organizationalUnitDN(prefix, in: dc.baseDN)
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ldapsync-ad-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let passwordFile = directory.appendingPathComponent("admin.pw")
        guard FileManager.default.createFile(atPath: passwordFile.path, contents: Data(dc.adminPassword.utf8),
                                             attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: passwordFile.path])
        }
        try dc.add(ldif: ADFixtures.organizationalUnit(prefix, in: dc.baseDN))
    }

    deinit {
        try? FileManager.default.removeItem(at: directory)
    }

    /// Adds LDIF entries as Administrator.
    func add(_ ldif: String) throws { try dc.add(ldif: ldif) }

    /// The account name `<prefix>u<number>` and the DN of a user made by ``users(_:in:)``.
    func userName(_ number: Int) -> String { ADFixtures.userName(number, prefix: prefix + "u") }
    func userDN(_ number: Int, in parent: String? = nil) -> String {
        ADFixtures.commonNameDN(userName(number), in: parent ?? ou)
    }

    /// LDIF for `count` numbered users of this environment (`ADFixtures.numberedUser`) in
    /// `parent` (default: the OU).
    func users(_ count: Int, in parent: String? = nil, start: Int = 1) -> String {
        ADFixtures.users(count: count, in: parent ?? ou, prefix: prefix + "u", start: start)
    }

    /// The YAML of a configuration (`type: ad`, bound as Administrator over ldap:// to the
    /// DC's loopback address). `groups`, `users`, `directoryExtra` (directory keys, one per
    /// line) and `extra` (top-level keys) are spliced in as given.
    func yaml(usersBase: String? = nil, groupsBase: String? = nil,
              attributes: [String] = ["{ ldap: mail, app: email }", "{ ldap: telephoneNumber, app: phone }"],
              groups: String? = "  mirror", users: String = "{ autoDeactivate: true }",
              safety: String = "{ maxDeactivations: 100%, maxGroupRemovals: 100% }",
              directoryExtra: String = "", timestamp: String = "{ overlap: 0s }", extra: String = "") -> String {
        """
        version: 1
        state: state
        directories:
          - name: ad
            type: ad
            url: "\(dc.url)"
            bind: { dn: "\(dc.adminDN)", passwordFile: admin.pw }
            users: { base: "\(usersBase ?? ou)" }
            groups: { base: "\(groupsBase ?? ou)" }
            timestamp: \(timestamp)
        \(directoryExtra.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
        app: { path: app.db }
        audit: { path: audit.jsonl }
        attributes:
        \(attributes.map { "  - " + $0 }.joined(separator: "\n"))
        \(groups.map { "groups:\n" + $0 } ?? "")
        users: \(users)
        safety: \(safety)
        \(extra)
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

    /// Runs a sync with the configuration on disk.
    func run(_ options: RunOptions = RunOptions()) throws -> RunOutcome {
        let configuration = try ConfigurationLoader.load(path: configPath)
        outputLines = []
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let runner = SyncRunner(configuration: configuration, logger: logger, output: { [weak self] in self?.outputLines.append($0) })
        return try runner.run(options)
    }

    /// The app store as the configuration describes it.
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

    /// The app groups of each of `keys`, among `groups`.
    func memberships(_ keys: [String], in groups: Set<String>) throws -> [String: Set<String>] {
        try appStore().memberships(ofUsers: keys, in: groups)
    }

    /// The members of each of `groups` among the managed app users (group → keys).
    func members(of groups: Set<String>) throws -> [String: Set<String>] {
        var result: [String: Set<String>] = [:]
        for (user, userGroups) in try memberships(Array(managedUsers().keys), in: groups) {
            for group in userGroups { result[group, default: []].insert(user) }
        }
        return result
    }

    func status() throws -> StateCommands.DirectoryStatus {
        let configuration = try ConfigurationLoader.load(path: configPath)
        return try StateCommands(configuration: configuration).status().directories[0]
    }

    /// The audit log's lines, parsed.
    func auditLines() throws -> [[String: Any]] {
        let text = try String(contentsOfFile: auditPath, encoding: .utf8)
        return try text.split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:]
        }
    }

    /// An LDAP connection as Administrator, for changes made "by someone else" and for reading back.
    func administrator() throws -> LDAPConnection {
        let connection = try LDAPConnection(url: dc.url)
        try connection.bind(dn: dc.adminDN, password: Secret(dc.adminPassword))
        return connection
    }

    /// One attribute of one entry, read as Administrator (nil: the entry lacks it).
    func values(_ attribute: AttributeName, of dn: String) throws -> [[UInt8]]? {
        var found: [[UInt8]]?
        try administrator().search(SearchRequest(base: dn, scope: .base, attributes: [attribute.description], pageSize: nil)) { entry in
            found = entry.values(of: attribute)
        }
        return found
    }

    func text(_ attribute: AttributeName, of dn: String) throws -> [String] {
        (try values(attribute, of: dn) ?? []).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Waits until a change made now carries a `whenChanged` clearly newer than the
    /// cursor's read window (one-second resolution, SPEC I2).
    func waitForNextSecond() {
        usleep(2_100_000)
    }
}
