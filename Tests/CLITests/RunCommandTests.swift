import Foundation
import DirectoryModel
import LDAPClient
import SlapdSupport
import Testing

/// A directory with a configuration for a private slapd, for running the ldapsync binary.
final class CLIEnvironment {
    let server: SlapdServer
    let directory: URL

    init(people: Int = 10, slapd: SlapdServer.Configuration = .init()) throws {
        server = try SlapdServer.start(slapd, ldif: Fixtures.people(count: people))
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ldapsync-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try write("sync.pw", server.configuration.syncPassword, mode: 0o600)
        try write("ldapsync.yaml", configuration())
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    func configuration(password: String = "sync.pw", extra: String = "") -> String {
        """
        version: 1
        state: state
        directories:
          - name: corp
            url: "\(server.url)"
            bind: { dn: "\(server.configuration.syncDN)", passwordFile: \(password) }
            users: { base: "ou=people,\(server.configuration.suffix)" }
        app: { path: app.db }
        audit: { path: audit.jsonl }
        attributes:
          - { ldap: cn, app: name }
          - { ldap: mail, app: email, multiValued: true }
        \(extra)
        """
    }

    func write(_ name: String, _ text: String, mode: Int = 0o644) throws {
        let path = directory.appendingPathComponent(name).path
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: mode])
    }

    func ldapsync(_ arguments: [String], environment: [String: String]? = nil) throws -> (status: Int32, output: String, errors: String) {
        try runLDAPSync(arguments, in: directory, environment: environment)
    }

    func sqlite(_ query: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        process.arguments = [directory.appendingPathComponent("app.db").path, query]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}

@Suite struct RunCommandTests {
    @Test func initThenRunPrintsTheSummaryAndExits0() throws {
        let environment = try CLIEnvironment(people: 7)
        let initialized = try environment.ldapsync(["init"])
        #expect(initialized.status == 0, "\(initialized.errors)")
        let run = try environment.ldapsync(["run"])
        #expect(run.status == 0, "\(run.errors)")
        #expect(run.output.contains("directory  fetched  created"))
        #expect(run.output.contains("corp"))
        #expect(run.output.contains("full run: no cursor yet"))
        #expect(try environment.sqlite("select count(*) from users where ldap_managed = 1 and active = 1;") == "7\n")
        let status = try environment.ldapsync(["status"])
        #expect(status.output.contains("cursor:"))
        #expect(status.output.contains("snapshot users: 7"))
        let cursor = try environment.ldapsync(["cursor", "show"])
        #expect(cursor.output.hasPrefix("corp: "))
        #expect(cursor.output.contains(" UTC"))
    }

    @Test func killedAfterTheAppCommitTheNextRunConvergesToTheSameState() throws {
        let environment = try CLIEnvironment(people: 12)
        _ = try environment.ldapsync(["init"])
        var crashEnvironment = ProcessInfo.processInfo.environment
        crashEnvironment["LDAPSYNC_CRASH_AT"] = "after-app-commit"
        let crashed = try environment.ldapsync(["run"], environment: crashEnvironment)
        #expect(crashed.status == 9, "expected SIGKILL, got \(crashed.status): \(crashed.errors)")
        // The app committed, the state did not: no cursor yet.
        #expect(try environment.sqlite("select count(*) from users;") == "12\n")
        #expect(try environment.ldapsync(["cursor", "show"]).output.contains("(none"))

        let rerun = try environment.ldapsync(["run"])
        #expect(rerun.status == 0, "\(rerun.errors)")
        #expect(try environment.sqlite("select count(*) from users;") == "12\n")
        let lines = rerun.output.split(separator: "\n")
        let row = try #require(lines.first { $0.hasPrefix("corp ") })
        // fetched 12, created 0, updated 0: the crashed run's writes were complete and idempotent.
        #expect(row.split(separator: " ").prefix(4) == ["corp", "12", "0", "0"])
        #expect(!(try environment.ldapsync(["cursor", "show"]).output.contains("(none")))
        let again = try environment.ldapsync(["run"])
        let againRow = try #require(again.output.split(separator: "\n").first { $0.hasPrefix("corp ") })
        #expect(againRow.split(separator: " ")[2] == "0")
        // LDAP and the app agree, every user once (FaultTests.swift).
        try FaultEnvironment(wrapping: environment).expectAgreement(gone: [])
    }

    @Test(arguments: [
        ("version: 1\nstate: s\ndirectories:\n  - name: corp\n    url: ldap://127.0.0.1\n    bind: { dn: cn=x, passwordFile: sync.pw }\n    usres: { base: dc=x }\n", "ldapsync.yaml:7:5: directories[0].usres", "did you mean users"),
        ("version: 1\nstate: s\ndirectories:\n  - name: corp\n    url: ldap://127.0.0.1\n    bind: { dn: cn=x, passwordFile: sync.pw }\n    users: { base: dc=x }\n    pageSize: many\n", "ldapsync.yaml:8:15: directories[0].pageSize", "integer"),
        ("version: 1\nstate: s\ndirectories:\n  - name: corp\n    url: ldap://127.0.0.1\n    bind: { dn: cn=x, passwordFile: sync.pw }\n    users: { base: dc=x }\n    timestamp: { pattern: yyyyMMddhhmmss }\n", "ldapsync.yaml:8:27: directories[0].timestamp.pattern", "hours are HH"),
    ])
    func badConfigurationsExit2NamingFileLineAndKey(yaml: String, location: String, hint: String) throws {
        let environment = try CLIEnvironment(people: 1)
        try environment.write("ldapsync.yaml", yaml)
        let result = try environment.ldapsync(["run"])
        #expect(result.status == 2)
        #expect(result.errors.contains(location), "\(result.errors)")
        #expect(result.errors.contains(hint), "\(result.errors)")
    }

    @Test func aMissingPasswordFileExits2NamingIt() throws {
        let environment = try CLIEnvironment(people: 1)
        try environment.write("ldapsync.yaml", environment.configuration(password: "missing.pw"))
        _ = try environment.ldapsync(["init"])
        let result = try environment.ldapsync(["run"])
        #expect(result.status == 2)
        #expect(result.errors.contains("missing.pw"), "\(result.errors)")
    }

    @Test func aWrongPasswordExits3AndWritesNothing() throws {
        let environment = try CLIEnvironment(people: 3)
        try environment.write("sync.pw", "not-the-password", mode: 0o600)
        _ = try environment.ldapsync(["init"])
        let result = try environment.ldapsync(["run"])
        #expect(result.status == 3)
        #expect(result.errors.contains("invalidCredentials (49)"), "\(result.errors)")
        #expect(!result.errors.contains("not-the-password"))
        #expect(try environment.sqlite("select count(*) from users;") == "0\n")
    }
}

@Suite struct ServerStoppedMidRunTests {
    @Test func aServerStoppedBeforeTheDeletionListingDeactivatesNobodyAndKeepsTheCursor() throws {
        let environment = try CLIEnvironment(people: 6)
        try environment.write("ldapsync.yaml", environment.configuration(extra: "users: { autoDeactivate: true }\nsafety: { maxDeactivations: 100% }"))
        _ = try environment.ldapsync(["init"])
        #expect(try environment.ldapsync(["run"]).status == 0)
        let cursorBefore = try environment.ldapsync(["cursor", "show"]).output
        usleep(2_100_000)
        try environment.server.modify(ldif: """
            dn: uid=\(Fixtures.personUID(1)),ou=people,\(environment.server.configuration.suffix)
            changetype: delete
            """)

        // The run stalls after reading the changes; the server goes away meanwhile.
        var stallEnvironment = ProcessInfo.processInfo.environment
        stallEnvironment["LDAPSYNC_STALL_AT"] = "before-deletion-listing"
        let server = environment.server  // SlapdServer is Sendable
        let stopper = Thread {
            usleep(1_000_000)
            server.kill()
        }
        stopper.start()
        let result = try environment.ldapsync(["run"], environment: stallEnvironment)
        #expect(result.status == 3, "\(result.errors)")
        #expect(result.errors.contains("serverDown") || result.errors.contains("connectError"), "\(result.errors)")
        #expect(try environment.sqlite("select count(*) from users where active = 0;") == "0\n")

        try environment.server.restart()
        #expect(try environment.ldapsync(["cursor", "show"]).output == cursorBefore)
        // With the server back, the deletion is found and applied.
        let again = try environment.ldapsync(["run"])
        #expect(again.status == 0, "\(again.errors)")
        #expect(try environment.sqlite("select key from users where active = 0;") == "\(Fixtures.personUID(1))\n")
        try FaultEnvironment(wrapping: environment).expectAgreement(gone: [Fixtures.personUID(1)])
    }
}

@Suite struct WriteBackCrashTests {
    @Test func killedAfterTheLDAPWritesTheNextRunConvergesWithoutDuplicates() throws {
        let environment = try CLIEnvironment(people: 3)
        try environment.write("ldapsync.yaml", """
            version: 1
            state: state
            directories:
              - name: corp
                url: "\(environment.server.url)"
                bind: { dn: "\(environment.server.configuration.syncDN)", passwordFile: sync.pw }
                users: { base: "ou=people,\(environment.server.configuration.suffix)" }
            app: { path: app.db }
            audit: { path: audit.jsonl }
            attributes:
              - { ldap: mail, app: email, multiValued: true, direction: both }
            writeBack: { enabled: true }
            """)
        _ = try environment.ldapsync(["init"])
        #expect(try environment.ldapsync(["run"]).status == 0)
        let key = Fixtures.personUID(1)
        _ = try environment.sqlite("update users set email = '[\"\(key)@example.com\",\"extra@example.com\"]' where key = '\(key)';")

        var crash = ProcessInfo.processInfo.environment
        crash["LDAPSYNC_CRASH_AT"] = "after-ldap-writes"
        #expect(try environment.ldapsync(["run"], environment: crash).status == 9)

        let rerun = try environment.ldapsync(["run"])
        #expect(rerun.status == 0, "\(rerun.errors)")
        let row = try #require(rerun.output.split(separator: "\n").first { $0.hasPrefix("corp ") })
        // written back: 0 — the value is already in LDAP and agreed.
        #expect(row.split(separator: " ")[7] == "0", "\(row)")
        let connection = try LDAPConnection(url: environment.server.url)
        try connection.bind(dn: environment.server.configuration.rootDN, password: Secret(environment.server.configuration.rootPassword))
        let mail = try connection.readEntry(dn: "uid=\(key),ou=people,\(environment.server.configuration.suffix)", attributes: ["mail"])?["mail"] ?? []
        #expect(mail.map { String(decoding: $0, as: UTF8.self) }.sorted() == ["extra@example.com", "\(key)@example.com"])
        try FaultEnvironment(wrapping: environment).expectAgreement(gone: [], names: false)
    }
}
