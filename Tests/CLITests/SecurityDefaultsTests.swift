import Foundation
import SlapdSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The security defaults of SPEC §12, end to end through the built binary. The finer
/// cases are tested below the command line: every file mode in SyncConfigTests/FileTests
/// (`groupOrWorldReadablePasswordFileIsRefused`), each inline password key in
/// SyncConfigTests/ValidationTests, which URLs count as loopback in
/// LDAPClientTests/ErrorAndURLTests, the audit log's modes in SyncRunnerTests/AuditLogTests.
@Suite struct SecurityDefaultsTests {
    // MARK: Passwords

    @Test(arguments: [(0o640, "its group"), (0o604, "everyone")])
    func aPasswordFileOthersCanReadIsRefusedWithTheChmodToRun(mode: Int, who: String) throws {
        let environment = try SecurityEnvironment(people: 1)
        try environment.write("sync.pw", environment.server.configuration.syncPassword, mode: mode)
        _ = try environment.ldapsync(["init"])
        let result = try environment.ldapsync(["run"])
        #expect(result.status == 2)
        let path = environment.path("sync.pw")
        #expect(result.errors.contains("readable by \(who)"), "\(result.errors)")
        #expect(result.errors.contains("run chmod 600 \(path)"), "\(result.errors)")
        #expect(!result.errors.contains(environment.server.configuration.syncPassword))
        #expect(try environment.userCount() == "0\n")
    }

    @Test func anInlinePasswordIsRefusedWithoutEchoingIt() throws {
        let environment = try SecurityEnvironment(people: 1)
        let secret = "Inline-Pa55word-Value"
        try environment.write("ldapsync.yaml", environment.configuration(bind: "password: \"\(secret)\""))
        let result = try environment.ldapsync(["run"])
        #expect(result.status == 2)
        #expect(result.errors.contains("ldapsync.yaml:6:"), "\(result.errors)")
        #expect(result.errors.contains("directories[0].bind.password"), "\(result.errors)")
        #expect(result.errors.contains("an inline password is not accepted"), "\(result.errors)")
        #expect(!(result.output + result.errors).contains(secret))
    }

    /// `ps` shows a process's arguments: the binary takes no password in any of them.
    @Test func noCommandTakesAPasswordArgument() throws {
        for command in [[], ["run"], ["plan"], ["doctor"], ["status"], ["cursor"], ["conflicts"], ["init"]] {
            let help = try runLDAPSync(command + ["--help"])
            #expect(help.status == 0, "\(command): \(help.errors)")
            let options = help.output.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "," })
                .filter { $0.hasPrefix("-") }.map { $0.lowercased() }
            #expect(!options.isEmpty)
            for option in options {
                #expect(!option.contains("pass") && !option.contains("secret") && !option.contains("pw"), "ldapsync \(command) has \(option)")
            }
        }
    }

    @Test func thePasswordAppearsNowhereAfterARunAtTraceLevel() throws {
        let environment = try SecurityEnvironment(people: 3)
        _ = try environment.ldapsync(["init"])
        let result = try environment.ldapsync(["run", "--log-level", "trace"])
        #expect(result.status == 0, "\(result.errors)")
        #expect(result.errors.contains("bound"), "trace logs were expected: \(result.errors)")
        let password = Data(environment.server.configuration.syncPassword.utf8)
        #expect(!Data((result.output + result.errors).utf8).contains(password))
        let written = try FileManager.default.subpathsOfDirectory(atPath: environment.directory.path)
            .filter { $0 != "sync.pw" && ($0 == "audit.jsonl" || $0 == "app.db" || $0.hasPrefix("state/")) }
        #expect(written.contains("audit.jsonl") && written.contains("state/data.mdb"), "\(written)")
        for file in written {
            let url = environment.directory.appendingPathComponent(file)
            guard let contents = try? Data(contentsOf: url) else { continue }
            #expect(contents.range(of: password) == nil, "the password is in \(file)")
        }
    }

    // MARK: Plain LDAP

    /// 192.0.2.10 is TEST-NET-1 (RFC 5737): nothing there answers, nothing is sent.
    @Test func aSimpleBindOverPlainLDAPToAnotherHostIsRefused() throws {
        let environment = try SecurityEnvironment(people: 1)
        try environment.write("ldapsync.yaml", environment.configuration(url: "ldap://192.0.2.10", directoryKeys: ["timeout: 1s"]))
        _ = try environment.ldapsync(["init"])
        let started = ContinuousClock.now
        let result = try environment.ldapsync(["run"])
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(result.status == 2, "\(result.errors)")
        #expect(result.errors.contains("would send the password unencrypted"), "\(result.errors)")
        #expect(result.errors.contains("set startTLS: true") && result.errors.contains("allowPlaintext: true"), "\(result.errors)")
    }

    /// Allowed, the run goes on to connect, finds nobody there and exits 3 within its
    /// one-second timeout (the process is killed after 20 s should it hang).
    @Test(arguments: ["allowPlaintext: true", "startTLS: true"])
    func withStartTLSOrAllowPlaintextTheRunGoesOnToConnect(setting: String) throws {
        let environment = try SecurityEnvironment(people: 1)
        try environment.write("ldapsync.yaml", environment.configuration(url: "ldap://192.0.2.10", directoryKeys: ["timeout: 1s", setting]))
        _ = try environment.ldapsync(["init"])
        let started = ContinuousClock.now
        let result = try ExternalTool.run(try builtLDAPSync().path, ["run"], in: environment.directory, timeout: .seconds(20))
        #expect(ContinuousClock.now - started < .seconds(15))
        #expect(result.status == 3, "\(result.errors)")
        #expect(!result.errors.contains("unencrypted"), "\(result.errors)")
        #expect(result.errors.contains("192.0.2.10"), "\(result.errors)")
        #expect(result.errors.contains("nothing was written"), "\(result.errors)")
    }

    // MARK: TLS

    @Test func certificatesAreVerifiedByDefaultAndTrustedWithTheConfiguredCA() throws {
        let environment = try SecurityEnvironment(people: 2, tls: true)
        let server = environment.server
        let ldaps = try #require(server.ldapsURL)
        let caFile = try #require(server.caFile)
        // Nothing in the environment may trust the test CA: no LDAPTLS_*, no ~/.ldaprc.
        var clean = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("LDAP") }
        clean["HOME"] = environment.directory.path

        try environment.write("ldapsync.yaml", environment.configuration(url: ldaps))
        _ = try environment.ldapsync(["init"])
        let untrusted = try environment.ldapsync(["run"], environment: clean)
        #expect(untrusted.status == 3, "\(untrusted.errors)")
        #expect(untrusted.errors.contains(ldaps), "\(untrusted.errors)")
        #expect(untrusted.errors.contains("nothing was written"), "\(untrusted.errors)")
        #expect(untrusted.errors.contains("TLS: certificate not trusted: issued by "), "\(untrusted.errors)")
        #expect(try environment.userCount() == "0\n")

        try environment.write("ldapsync.yaml", environment.configuration(url: ldaps, directoryKeys: ["tls: { caFile: \"\(caFile)\" }"]))
        let trusted = try environment.ldapsync(["run"], environment: clean)
        #expect(trusted.status == 0, "\(trusted.errors)")
        #expect(try environment.userCount() == "2\n")
    }

    // MARK: File modes

    /// Under the most permissive umask, the state directory is 0700, the audit log 0600
    /// in new 0700 directories, and nothing in the state directory is readable by others.
    @Test func theStateDirectoryAndTheAuditLogAreCreatedPrivateWhateverTheUmask() throws {
        let environment = try SecurityEnvironment(people: 2)
        try environment.write("ldapsync.yaml", environment.configuration(audit: "log/ldapsync/audit.jsonl"))
        _ = try environment.ldapsync(["init"])
        let result = try ExternalTool.run("/bin/sh", ["-c", "umask 0000 && exec \"$0\" run", try builtLDAPSync().path], in: environment.directory)
        #expect(result.status == 0, "\(result.errors)")
        let path = environment.path
        #expect(try fileMode(path("state")) == 0o700)
        let stateFiles = try FileManager.default.contentsOfDirectory(atPath: path("state"))
        #expect(stateFiles.contains("data.mdb"), "\(stateFiles)")
        for file in stateFiles {
            #expect(try fileMode(path("state/\(file)")) & 0o077 == 0, "state/\(file) is open to others")
        }
        #expect(try fileMode(path("log")) == 0o700)
        #expect(try fileMode(path("log/ldapsync")) == 0o700)
        #expect(try fileMode(path("log/ldapsync/audit.jsonl")) == 0o600)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path("log/ldapsync/audit.jsonl"))).count > 0)
    }
}

/// A private slapd (with TLS when asked) and a directory with a configuration for it,
/// for running the ldapsync binary; like CLIEnvironment, with the URL and directory keys
/// of the test's choice.
final class SecurityEnvironment {
    let server: SlapdServer
    let directory: URL

    init(people: Int, tls: Bool = false) throws {
        var slapd = SlapdServer.Configuration()
        slapd.tls = tls
        server = try SlapdServer.start(slapd, ldif: Fixtures.people(count: people))
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ldapsync-security-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try write("sync.pw", server.configuration.syncPassword, mode: 0o600)
        try write("ldapsync.yaml", configuration())
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    /// `directoryKeys`: more keys of the directory, one per line.
    func configuration(url: String? = nil, directoryKeys: [String] = [], bind: String = "passwordFile: sync.pw",
                       audit: String = "audit.jsonl") -> String {
        """
        version: 1
        state: state
        directories:
          - name: corp
            url: "\(url ?? server.url)"
            bind: { dn: "\(server.configuration.syncDN)", \(bind) }
            users: { base: "ou=people,\(server.configuration.suffix)" }
        \(directoryKeys.map { "    \($0)\n" }.joined())app: { path: app.db }
        audit: { path: \(audit) }
        attributes:
          - { ldap: cn, app: name }
          - { ldap: mail, app: email, multiValued: true }
        """
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    func write(_ name: String, _ text: String, mode: Int = 0o644) throws {
        try #require(FileManager.default.createFile(atPath: path(name), contents: Data(text.utf8), attributes: [.posixPermissions: mode]))
    }

    func ldapsync(_ arguments: [String], environment: [String: String]? = nil) throws -> (status: Int32, output: String, errors: String) {
        try runLDAPSync(arguments, in: directory, environment: environment)
    }

    func userCount() throws -> String {
        try ExternalTool.run("/usr/bin/sqlite3", [path("app.db"), "select count(*) from users;"]).output
    }
}
