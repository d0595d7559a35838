import DirectoryModel
import LDAPClient
import SlapdSupport
import Testing

/// Search references (continuation references, as AD returns for `CN=Configuration` below
/// a domain root) and a final `referral` result (10).
@Suite struct ReferralTests {
    static let referralURL = "ldap://elsewhere.example.com/ou=moved,dc=example,dc=com"

    static func server() throws -> SlapdServer {
        let ldif = Fixtures.people(count: 5) + """

            dn: ou=moved,ou=people,dc=example,dc=com
            objectClass: referral
            objectClass: extensibleObject
            ou: moved
            ref: \(referralURL)

            """
        return try SlapdServer.start(ldif: ldif)
    }

    @Test func subtreeSearchSkipsReferencesAndReturnsEveryEntry() throws {
        let server = try Self.server()
        defer { try? server.stop() }
        var uids: [String] = []
        let summary = try server.syncConnection().search(SearchRequest(base: server.peopleBase, filter: "(objectClass=inetOrgPerson)",
                                                                       attributes: ["uid"], pageSize: 2)) { entry in
            uids.append(String(decoding: entry.values(of: "uid")?.first ?? [], as: UTF8.self))
        }
        #expect(Set(uids) == Set((1...5).map(Fixtures.personUID)))
        #expect(summary.references.count == 1)
        #expect(summary.references.first?.hasPrefix("ldap://elsewhere.example.com/") == true)
    }

    @Test func aBaseHeldElsewhereIsAReferralErrorNamingWhereItPoints() throws {
        let server = try Self.server()
        defer { try? server.stop() }
        let base = "ou=moved,\(server.peopleBase)"
        let error = #expect(throws: LDAPError.self) {
            try server.syncConnection().search(SearchRequest(base: base, pageSize: 10)) { _ in }
        }
        #expect(error?.code == .referral)
        #expect(error?.description.contains("elsewhere.example.com") == true, "\(String(describing: error))")
        #expect(error?.description.contains("naming contexts") == true)
        #expect(error?.description.contains("incomplete") == true)
    }
}
