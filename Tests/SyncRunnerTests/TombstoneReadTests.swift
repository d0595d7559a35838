import Foundation
import LDAPClient
import SlapdSupport
import SyncRunner
import Testing

/// `deletions: tombstones` when the tombstone read cannot be made: slapd does not know
/// Active Directory's Show Deleted control, which ldapsync sends as critical. The read
/// fails as a whole, so nobody is deactivated from it (SPEC I5) and nothing moves.
@Suite struct TombstoneReadTests {
    /// The environment's configuration as `type: ad`, with the OpenLDAP attributes
    /// spelled out so that slapd can serve the reads.
    private func adOnSlapd(_ environment: SyncEnvironment) -> String {
        environment.yaml(directoryExtra: "deletions: tombstones")
            .replacingOccurrences(of: "  - name: test\n", with: "  - name: test\n    type: ad\n")
            .replacingOccurrences(of: "users: { base: \"\(environment.peopleBase)\" }",
                                  with: "users: { base: \"\(environment.peopleBase)\", id: entryUUID, key: uid, filter: \"(objectClass=inetOrgPerson)\" }")
            .replacingOccurrences(of: "timestamp: { overlap: 0s }", with: "timestamp: { overlap: 0s, attribute: modifyTimestamp, pattern: openldap }")
    }

    @Test func aTombstoneReadTheServerRefusesDeactivatesNobodyAndKeepsTheCursor() throws {
        let environment = try SyncEnvironment(people: 4, groups: 0)
        try environment.configure(adOnSlapd(environment))
        let first = try environment.run()
        #expect(first.summaries[0].full)
        #expect(first.summaries[0].created == 4)
        let cursor = try environment.status().cursor

        environment.waitForNextSecond()
        try environment.root().perform(.delete(dn: environment.personDN(2)))
        let error = try #require(throws: RunError.self) { try environment.run() }
        #expect(error.exitCode == 3)
        #expect(error.description.contains("unavailableCriticalExtension"), "\(error)")
        #expect(error.description.contains("nothing was written and the cursor was not moved"))
        #expect(try environment.managedUsers().values.allSatisfy(\.active))
        #expect(try environment.status().cursor == cursor)

        // A full run does not need tombstones: it finds the deletion by reading the scope.
        var full = RunOptions()
        full.full = true
        let repaired = try environment.run(full)
        #expect(repaired.summaries[0].deactivated == 1)
        #expect(repaired.summaries[0].tombstonesRead == 0)
        #expect(try environment.managedUsers()[Fixtures.personUID(2)]?.active == false)
    }

    /// The doctor finds the same refusal before any run does.
    @Test func theDoctorNamesAServerThatRefusesTheShowDeletedControl() throws {
        let environment = try SyncEnvironment(people: 1, groups: 0)
        try environment.configure(adOnSlapd(environment))
        let report = environment.doctor()
        let failure = try #require(report.lines(.fail).first { $0.area == "tombstones" }, "\(report.dump)")
        #expect(failure.summary.hasPrefix("tombstones: deleted objects under \(environment.server.configuration.suffix) cannot be read with the Show Deleted control: "))
        #expect(failure.summary.contains("unavailableCriticalExtension"), "\(failure.summary)")
        #expect(failure.advice?.contains("or use deletions: every-run for directory test") == true)
    }
}
