import DirectoryModel
import Testing

@Suite struct NormalizedDNTests {
    static let matching: [(String, String)] = [
        ("uid=John  Smith,ou=People,dc=Example,dc=COM", "UID=john smith, ou=people,dc=example,dc=com"),
        (#"cn=\ john\ \ ,dc=x"#, "cn=john,dc=x"),
        ("cn=John\\09 \\0A Smith", "cn=john smith"),
        ("cn=John\u{A0}Smith", "cn=john smith"),
        ("ou=Sales+cn=J.  Smith,dc=net", "CN=j. smith+OU=sales,DC=NET"),
        ("cn=Straße", "cn=STRASSE"),
        (#"cn=\C3\A9"#, #"cn=e\CC\81"#),
        ("cn=ÉLODIE", "cn=élodie"),
        (#"cn=\ff"#, #"cn=\FF"#),
        ("cn=#04024869", "CN=#04024869"),
        ("", ""),
    ]

    @Test(arguments: matching)
    func matchesNamesThatADirectoryTreatsAsEqual(_ left: String, _ right: String) throws {
        let lhs = try DistinguishedName(parsing: left)
        let rhs = try DistinguishedName(parsing: right)
        #expect(lhs.matches(rhs))
        #expect(rhs.matches(lhs))
        #expect(lhs.normalized.hashValue == rhs.normalized.hashValue)
    }

    static let different: [(String, String)] = [
        ("cn=John Smith", "cn=JohnSmith"),
        ("cn=John Smith,dc=x", "cn=John Smith"),
        ("cn=a,dc=x", "dc=x,cn=a"),
        ("cn=a+sn=b", "cn=a"),
        ("cn=a", "sn=a"),
        ("2.5.4.3=a", "cn=a"),
        (#"cn=\ff"#, #"cn=\fe"#),
        (#"cn=\ff"#, #"cn=\C3\BF"#),
        ("cn=#04024869", "cn=Hi"),
        ("cn=#0401", "cn=#0402"),
    ]

    @Test(arguments: different)
    func keepsApartNamesThatDiffer(_ left: String, _ right: String) throws {
        let lhs = try DistinguishedName(parsing: left)
        let rhs = try DistinguishedName(parsing: right)
        #expect(!lhs.matches(rhs))
        #expect(!rhs.matches(lhs))
    }

    @Test func servesAsADictionaryKey() throws {
        var owners: [NormalizedDN: String] = [:]
        owners[try DistinguishedName(parsing: "uid=jdoe,ou=People,dc=Example").normalized] = "app user 7"
        #expect(owners[try DistinguishedName(parsing: "UID=JDOE, OU=people, DC=example").normalized] == "app user 7")
    }

    @Test func printsTheFoldedForm() throws {
        let dn = try DistinguishedName(parsing: "UID=John  Smith+CN=X, OU=People,dc=Example,dc=COM")
        #expect(dn.normalized.description == "cn=x+uid=john smith,ou=people,dc=example,dc=com")
    }

    @Test func exactEqualityStaysStrictWhereMatchingIsLoose() throws {
        let lhs = try DistinguishedName(parsing: "uid=John  Smith,ou=People")
        let rhs = try DistinguishedName(parsing: "uid=john smith,ou=people")
        #expect(lhs.matches(rhs))
        #expect(lhs != rhs)
    }
}
