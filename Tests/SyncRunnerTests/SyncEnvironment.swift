import AppStore
import DirectoryModel
import Foundation
import LDAPClient
import Logging
import SlapdSupport
import SyncConfig
import SyncRunner

/// A private slapd, a temporary directory with a configuration, a password file, an
/// SQLite app store and a state directory: one end-to-end sync setup per test.
final class SyncEnvironment {
    let server: SlapdServer
    let directory: URL
    var peopleBase: String { "ou=people,\(server.configuration.suffix)" }
    var groupsBase: String { "ou=groups,\(server.configuration.suffix)" }
    var appPath: String { directory.appendingPathComponent("app.db").path }
    var statePath: String { directory.appendingPathComponent("state").path }
    var configPath: String { directory.appendingPathComponent("ldapsync.yaml").path }
    private(set) var outputLines: [String] = []

    /// - Parameters:
    ///   - people: fixture people `user000001...`.
    ///   - groups: fixture groups `group0001...` with `membersPerGroup` members each.
    init(people: Int = 20, groups: Int = 2, membersPerGroup: Int = 5, slapd: SlapdServer.Configuration = .init()) throws {
        var ldif = Fixtures.people(count: people)
        if groups > 0 { ldif += Fixtures.groups(count: groups, membersPerGroup: membersPerGroup, peopleCount: people) }
        server = try SlapdServer.start(slapd, ldif: ldif)
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ldapsync-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let passwordFile = directory.appendingPathComponent("sync.pw")
        FileManager.default.createFile(atPath: passwordFile.path, contents: Data(server.configuration.syncPassword.utf8),
                                       attributes: [.posixPermissions: 0o600])
    }

    deinit {
        try? FileManager.default.removeItem(at: directory)
    }

    /// The YAML of a configuration; `groups`, `users` and `extra` are spliced in as given.
    func yaml(attributes: [String] = defaultAttributes, groups: String? = nil, users: String = "{ autoDeactivate: true }",
              safety: String = "{ maxDeactivations: 100%, maxGroupRemovals: 100% }", directoryExtra: String = "",
              timestamp: String = "{ overlap: 0s }") -> String {
        """
        version: 1
        state: state
        directories:
          - name: test
            url: "\(server.url)"
            bind: { dn: "\(server.configuration.syncDN)", passwordFile: sync.pw }
            users: { base: "\(peopleBase)" }
            groups: { base: "\(groupsBase)" }
            timestamp: \(timestamp)
        \(directoryExtra.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
        app: { path: app.db }
        audit: { path: audit.jsonl }
        attributes:
        \(attributes.map { "  - " + $0 }.joined(separator: "\n"))
        \(groups.map { "groups:\n" + $0 } ?? "")
        users: \(users)
        safety: \(safety)
        """
    }

    static let defaultAttributes = ["{ ldap: cn, app: name }", "{ ldap: mail, app: email }", "{ ldap: telephoneNumber, app: phone }"]

    /// A rules section mapping app groups to fixture groups by number.
    func rules(_ pairs: [(app: String, group: Int)]) -> String {
        pairs.map { "  - { app: \($0.app), ldap: \"cn=\(Fixtures.groupCN($0.group)),\(groupsBase)\" }" }.joined(separator: "\n")
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

    func memberships(_ keys: [String], in groups: Set<String>) throws -> [String: Set<String>] {
        try appStore().memberships(ofUsers: keys, in: groups)
    }

    func status() throws -> StateCommands.DirectoryStatus {
        let configuration = try ConfigurationLoader.load(path: configPath)
        return try StateCommands(configuration: configuration).status().directories[0]
    }

    func personDN(_ number: Int) -> String { "uid=\(Fixtures.personUID(number)),\(peopleBase)" }
    func groupDN(_ number: Int) -> String { "cn=\(Fixtures.groupCN(number)),\(groupsBase)" }

    /// An LDAP connection as the directory manager, for changes made "by someone else".
    func root() throws -> LDAPConnection {
        let connection = try LDAPConnection(url: server.url)
        try connection.bind(dn: server.configuration.rootDN, password: Secret(server.configuration.rootPassword))
        return connection
    }

    /// The newest modifyTimestamp among the entries below the suffix.
    func newestModifyTimestamp() throws -> Timestamp {
        var newest = Timestamp(seconds: 0)
        try root().search(SearchRequest(base: server.configuration.suffix, filter: "(|(objectClass=inetOrgPerson)(objectClass=groupOfNames))",
                                        attributes: ["modifyTimestamp"])) { entry in
            if let value = entry.values(of: "modifyTimestamp")?.first, let time = try? Timestamp(generalizedTimeBytes: value) {
                newest = max(newest, time)
            }
        }
        return newest
    }

    /// Waits until a change made now carries a timestamp clearly newer than the cursor's
    /// read window: timestamps have one-second resolution, and the next search reaches
    /// back by the previous read's duration too (SPEC I2), floored to the second.
    func waitForNextSecond() {
        usleep(2_100_000)
    }

    /// Moves the cursor clearly past the fixture's load time with two runs after LDAP
    /// changes to person 1, so that untouched entries are no longer re-read by the
    /// incremental search (its `>=` bound reaches back into the cursor's own second).
    func moveCursorPastTheFixture() throws {
        for value in ["x", "y"] {
            waitForNextSecond()
            try root().perform(.modify(dn: personDN(1), modifications: [Modification(.replace, "description", strings: [value])]))
            _ = try run()
        }
    }
}
