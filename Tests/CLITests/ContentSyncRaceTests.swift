import Foundation
import DirectoryModel
import SlapdSupport
import Testing

/// `deletions: every-run` through content-synchronization refreshes (RFC 4533), with a
/// session log on the server: its delete phase names each deletion once, after the cookie.
@Suite struct ContentSyncRaceTests {
    /// A user read by a run and deleted before that run's listing is decided already; the
    /// run keeps its old cookie, so the next refresh names the deletion again.
    @Test func aUserDeletedBetweenTheReadAndTheListingIsDeactivatedByTheNextRun() throws {
        var slapd = SlapdServer.Configuration()
        slapd.syncProvider = .init(sessionLog: 1000)
        let environment = try CLIEnvironment(people: 6, slapd: slapd)
        try environment.write("ldapsync.yaml", environment.configuration(extra: "users: { autoDeactivate: true }\nsafety: { maxDeactivations: 100% }"))
        _ = try environment.ldapsync(["init"])
        #expect(try environment.ldapsync(["run"]).status == 0)
        usleep(1_100_000)
        let dn = "uid=\(Fixtures.personUID(2)),ou=people,\(environment.server.configuration.suffix)"
        try environment.server.modify(ldif: """
            dn: \(dn)
            changetype: modify
            replace: cn
            cn: Read Then Deleted
            """)
        // The run reads the change, then stalls before its listing; the entry goes meanwhile.
        let server = environment.server
        let deleter = Thread {
            usleep(1_000_000)
            try? server.modify(ldif: "dn: \(dn)\nchangetype: delete\n")
        }
        deleter.start()
        var stall = ProcessInfo.processInfo.environment
        stall["LDAPSYNC_STALL_AT"] = "before-deletion-listing"
        let racing = try environment.ldapsync(["run", "--report", "race.json"], environment: stall)
        #expect(racing.status == 0, "\(racing.errors)")
        #expect(try environment.sqlite("select name, active from users where key = '\(Fixtures.personUID(2))';") == "Read Then Deleted|1\n")
        let report = try String(contentsOf: environment.directory.appendingPathComponent("race.json"), encoding: .utf8)
        #expect(report.contains("\"deletionListing\": \"content sync (delete phase)\""), "\(report)")

        let next = try environment.ldapsync(["run"])
        #expect(next.status == 0, "\(next.errors)")
        #expect(try environment.sqlite("select key from users where active = 0;") == "\(Fixtures.personUID(2))\n")
    }
}
