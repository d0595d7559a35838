import DirectoryModel
import SlapdSupport
import SyncRunner
import Testing

/// A subtree search from the root of a directory meets continuation references (AD:
/// `CN=Configuration`, the DNS zones); they are skipped, not errors, and the run reads
/// everything else.
@Suite struct ReferralSyncTests {
    @Test func aSyncFromTheDirectoryRootSkipsSearchReferences() throws {
        let environment = try SyncEnvironment(people: 6, groups: 1, membersPerGroup: 3)
        try environment.server.add(ldif: """
            dn: ou=partition,\(environment.server.configuration.suffix)
            objectClass: referral
            objectClass: extensibleObject
            ou: partition
            ref: ldap://other.example.com/ou=partition,\(environment.server.configuration.suffix)

            """)
        let root = environment.server.configuration.suffix
        let yaml = environment.yaml(groups: "  mirror")
            .replacingOccurrences(of: "users: { base: \"\(environment.peopleBase)\" }", with: "users: { base: \"\(root)\" }")
            .replacingOccurrences(of: "groups: { base: \"\(environment.groupsBase)\" }", with: "groups: { base: \"\(root)\" }")
        #expect(yaml.contains("users: { base: \"\(root)\" }"))
        try environment.configure(yaml)

        let outcome = try environment.run()
        let summary = try #require(outcome.summaries.first)
        #expect(summary.failures.isEmpty, "\(summary.failures)")
        #expect(outcome.exitCode == 0)
        #expect(summary.created == 6)
        let memberships = try environment.memberships((1...6).map(Fixtures.personUID), in: [Fixtures.groupCN(1)])
        #expect(memberships.values.filter { $0.contains(Fixtures.groupCN(1)) }.count == 3)
    }
}
