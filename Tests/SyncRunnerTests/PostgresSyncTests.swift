import AppStore
import DirectoryModel
import Foundation
import LDAPClient
import PostgresSupport
import SlapdSupport
import SyncConfig
import SyncRunner
import Testing

extension Trait where Self == ConditionTrait {
    /// Skips the test, saying why, when this machine cannot run a private PostgreSQL
    /// server (not root, postgresql not installed, or LDAPSYNC_SKIP_POSTGRES set).
    static var postgres: Self {
        .enabled(if: PostgresServer.availability() == nil,
                 Comment(rawValue: "needs a private PostgreSQL server: \(PostgresServer.availability() ?? "")"))
    }
}

/// End-to-end syncs from a private slapd into a private PostgreSQL server: the runner
/// reads `app.kind: postgres` with a password file, and full and incremental runs and
/// group memberships land in PostgreSQL as they do in SQLite.
@Suite(.postgres) struct PostgresSyncTests {
    /// The environment's configuration with its app section pointing at a fresh database.
    private func configure(_ environment: SyncEnvironment, groups: String? = nil) throws -> (PostgresServer, String) {
        let server = try PostgresServer.shared()
        let database = try server.createDatabase()
        let app = "app: { kind: postgres, url: \"\(server.url(database: database))\", passwordFile: \"\(server.passwordFile)\", sslMode: verify-full, caFile: \"\(server.caFile)\" }"
        let yaml = environment.yaml(groups: groups).replacingOccurrences(of: "app: { path: app.db }", with: app)
        #expect(yaml.contains("kind: postgres"))
        try yaml.write(toFile: environment.configPath, atomically: true, encoding: .utf8)
        let store = try appStore(environment)
        try store.createDefaultSchema()
        return (server, database)
    }

    private func appStore(_ environment: SyncEnvironment) throws -> PostgresAppStore {
        let configuration = try ConfigurationLoader.load(path: environment.configPath)
        guard case .postgres(let url, let password, let tls) = configuration.app.kind else {
            throw AppStoreError(operation: "test", message: "not a postgres configuration")
        }
        return try PostgresAppStoreOpening.open(configuration, url: url, password: password, tls: tls)
    }

    private func managedUsers(_ environment: SyncEnvironment) throws -> [String: AppUser] {
        var users: [String: AppUser] = [:]
        try appStore(environment).forEachManagedUser { users[$0.key] = $0 }
        return users
    }

    @Test func fullThenIncrementalRunsWithMembershipsLandInPostgreSQL() throws {
        let environment = try SyncEnvironment(people: 40, groups: 2, membersPerGroup: 5)
        let (server, database) = try configure(environment, groups: environment.rules([("GrpAE", 1), ("GrpAE_B", 2)]))

        let first = try environment.run()
        #expect(first.exitCode == 0)
        #expect(first.summaries[0].full)
        #expect(first.summaries[0].created == 10)
        var users = try managedUsers(environment)
        #expect(users.count == 10)
        let one = try #require(users[Fixtures.personUID(1)])
        #expect(one.active && one.managed)
        #expect(one.values["email"] == .text("\(Fixtures.personUID(1))@example.com"))
        #expect(try server.psql("SELECT count(*) FROM group_members", database: database) == "10\n")

        environment.waitForNextSecond()
        let root = try environment.root()
        try root.perform(.modify(dn: environment.personDN(1), modifications: [Modification(.replace, "description", strings: ["warm-up"])]))
        try root.perform(.modify(dn: environment.groupDN(1), modifications: [Modification(.replace, "description", strings: ["warm-up"])]))
        _ = try environment.run()
        environment.waitForNextSecond()

        for number in [1, 2, 6] {
            try root.perform(.modify(dn: environment.personDN(number), modifications: [
                Modification(.replace, "telephoneNumber", strings: ["+49 30 \(number)"]),
            ]))
        }
        try root.perform(.modify(dn: environment.groupDN(1), modifications: [
            Modification(.add, "member", strings: [environment.personDN(20)]),
            Modification(.delete, "member", strings: [environment.personDN(3)]),
        ]))

        let second = try environment.run()
        let summary = second.summaries[0]
        #expect(second.exitCode == 0)
        #expect(!summary.full)
        #expect(summary.updated == 3)
        #expect(summary.created == 1)
        #expect(summary.membershipsAdded == 1)
        #expect(summary.membershipsRemoved == 1)
        users = try managedUsers(environment)
        #expect(users[Fixtures.personUID(6)]?.values["phone"] == .text("+49 30 6"))
        #expect(users[Fixtures.personUID(3)]?.active == true)
        let groups = try appStore(environment).memberships(ofUsers: [Fixtures.personUID(3), Fixtures.personUID(20)], in: ["GrpAE", "GrpAE_B"])
        #expect(groups[Fixtures.personUID(20)] == ["GrpAE"])
        #expect(groups[Fixtures.personUID(3)] == nil)
        // updated_at is ISO 8601 UTC text on every row written.
        let stamps = try server.psql("SELECT count(*) FROM users WHERE updated_at !~ '^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$'", database: database)
        #expect(stamps == "0\n")

        // Deleted in LDAP: deactivated in PostgreSQL, never deleted.
        environment.waitForNextSecond()
        try root.perform(.delete(dn: environment.personDN(2)))
        let third = try environment.run(RunOptions())
        #expect(third.exitCode == 0)
        #expect(try managedUsers(environment)[Fixtures.personUID(2)]?.active == false)
    }

    @Test func doctorChecksThePostgreSQLTablesAndNamesWhatIsMissing() throws {
        let environment = try SyncEnvironment(people: 1, groups: 0)
        let (server, database) = try configure(environment)
        var report = environment.doctor()
        let pass = try #require(report.lines(containing: "app store (PostgreSQL)").first, "\(report.dump)")
        #expect(pass.status == .pass)
        #expect(pass.summary.contains("table users with key, ldap_managed, active, updated_at and 3 mapped columns"), "\(pass.summary)")

        try server.psql("SET ROLE \(server.role); ALTER TABLE users DROP COLUMN phone;", database: database)
        report = environment.doctor()
        let failure = try #require(report.lines(containing: "app store (PostgreSQL)").first, "\(report.dump)")
        #expect(failure.status == .fail)
        #expect(failure.summary.contains(#"table "users" has no column "phone""#), "\(failure.summary)")
    }

    @Test func aWrongPasswordFailsTheRunAsAConfigurationErrorWithoutWriting() throws {
        let environment = try SyncEnvironment(people: 3, groups: 0)
        let (server, database) = try configure(environment)
        let wrong = environment.directory.appendingPathComponent("wrong.pw").path
        FileManager.default.createFile(atPath: wrong, contents: Data("not-the-password".utf8), attributes: [.posixPermissions: 0o600])
        let yaml = try String(contentsOfFile: environment.configPath, encoding: .utf8)
            .replacingOccurrences(of: server.passwordFile, with: wrong)
        try yaml.write(toFile: environment.configPath, atomically: true, encoding: .utf8)
        let error = #expect(throws: RunError.self) { try environment.run() }
        #expect(error?.exitCode == 2)
        #expect(error?.description.contains("password authentication failed") == true)
        #expect(error?.description.contains("not-the-password") == false)
        #expect(try server.psql("SELECT count(*) FROM users", database: database) == "0\n")
    }
}
