import Foundation
import SlapdSupport
import Testing

/// SPEC §12: a password never appears in logs (text or JSON, at every level), output,
/// error messages, the report, the metrics, the audit log or the state store. A real sync
/// with a distinctive password, then every byte ldapsync produced is searched for it.
@Suite struct SecretLeakTests {
    static let secret = "S3cr3t-Zebra-8841"

    @Test func theBindPasswordAppearsNowhereLdapsyncWrites() throws {
        var slapd = SlapdServer.Configuration()
        slapd.syncPassword = Self.secret
        let server = try SlapdServer.start(slapd, ldif: Fixtures.people(count: 4))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ldapsync-secret-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func write(_ name: String, _ text: String, mode: Int = 0o644) {
            FileManager.default.createFile(atPath: directory.appendingPathComponent(name).path, contents: Data(text.utf8),
                                           attributes: [.posixPermissions: mode])
        }
        func configuration(_ bind: String) -> String {
            """
            version: 1
            state: state
            directories:
              - name: corp
                url: "\(server.url)"
                bind: { dn: "\(slapd.syncDN)", \(bind) }
                users: { base: "ou=people,\(slapd.suffix)" }
            app: { path: app.db }
            audit: { path: audit.jsonl }
            attributes:
              - { ldap: cn, app: name }
              - { ldap: mail, app: email, multiValued: true }
            """
        }
        write("sync.pw", Self.secret, mode: 0o600)
        // A wrong password that contains the secret: a refused bind must not echo it either.
        write("wrong.pw", Self.secret + "-wrong", mode: 0o600)
        write("ldapsync.yaml", configuration("passwordFile: sync.pw"))
        var environment = ProcessInfo.processInfo.environment
        environment["LDAPSYNC_TEST_PASSWORD"] = Self.secret

        var transcripts: [(String, String)] = []
        func ldapsync(_ arguments: [String], expect status: Int32) throws {
            let result = try runLDAPSync(arguments, in: directory, environment: environment)
            #expect(result.status == status, "\(arguments): \(result.errors)")
            transcripts.append(("stdout of \(arguments)", result.output))
            transcripts.append(("stderr of \(arguments)", result.errors))
        }
        let outputs = ["--report", "report.json", "--metrics", "ldapsync.prom"]
        try ldapsync(["init"], expect: 0)
        try ldapsync(["run", "--log-level", "trace", "--log-format", "json"] + outputs, expect: 0)
        try server.modify(ldif: """
            dn: uid=\(Fixtures.personUID(1)),ou=people,\(slapd.suffix)
            changetype: modify
            replace: cn
            cn: Changed Name
            """)
        try ldapsync(["plan", "--log-level", "trace"], expect: 0)
        try ldapsync(["run", "--full", "--log-level", "trace", "--log-format", "text"] + outputs, expect: 0)
        try ldapsync(["status", "--log-level", "trace"], expect: 0)
        try ldapsync(["cursor", "show"], expect: 0)

        write("ldapsync.yaml", configuration("passwordEnv: LDAPSYNC_TEST_PASSWORD"))
        try ldapsync(["run", "--log-level", "trace", "--log-format", "json"] + outputs, expect: 0)
        try ldapsync(["plan", "--log-level", "trace", "--log-format", "json"], expect: 0)

        write("ldapsync.yaml", configuration("passwordFile: wrong.pw"))
        try ldapsync(["run", "--log-level", "trace", "--log-format", "json"] + outputs, expect: 3)
        try ldapsync(["run", "--log-level", "trace"] + outputs, expect: 3)
        environment["LDAPSYNC_TEST_PASSWORD"] = Self.secret + "-wrong"
        write("ldapsync.yaml", configuration("passwordEnv: LDAPSYNC_TEST_PASSWORD"))
        try ldapsync(["run", "--log-level", "trace", "--log-format", "json"] + outputs, expect: 3)

        for (what, text) in transcripts {
            #expect(!text.contains(Self.secret), "the password is in the \(what)")
        }
        // Every file ldapsync wrote: report, metrics, audit log, app store, state store
        // (LMDB data and lock files, the staging area), searched as bytes.
        let needle = Data(Self.secret.utf8)
        let written = try #require(FileManager.default.enumerator(at: directory, includingPropertiesForKeys: [.isRegularFileKey]))
        var searched: [String] = []
        for case let url as URL in written where !["sync.pw", "wrong.pw"].contains(url.lastPathComponent) {
            guard try url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile == true else { continue }
            let data = try Data(contentsOf: url)
            searched.append(url.lastPathComponent)
            #expect(data.range(of: needle) == nil, "the password is in \(url.path)")
        }
        for expected in ["report.json", "ldapsync.prom", "audit.jsonl", "app.db", "data.mdb"] {
            #expect(searched.contains(expected), "\(expected) was not written: \(searched)")
        }
        // The runs did real work, so the search covered real content.
        #expect(try String(contentsOf: directory.appendingPathComponent("audit.jsonl"), encoding: .utf8).contains("\"op\":\"create\""))
    }
}
