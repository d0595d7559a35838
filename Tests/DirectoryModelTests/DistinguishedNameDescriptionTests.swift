import DirectoryModel
import Testing

@Suite struct DistinguishedNameDescriptionTests {
    /// A value's octets and how RFC 4514 §2.4 prints it after `cn=`.
    static let escapedValues: [([UInt8], String)] = [
        (Array("Steve Kille".utf8), "Steve Kille"),
        (Array("\"".utf8), #"\""#),
        (Array("+".utf8), #"\+"#),
        (Array(",".utf8), #"\,"#),
        (Array(";".utf8), #"\;"#),
        (Array("<".utf8), #"\<"#),
        (Array(">".utf8), #"\>"#),
        (Array("\\".utf8), #"\\"#),
        (Array("a,b+c;d\"e\\f<g>h".utf8), #"a\,b\+c\;d\"e\\f\<g\>h"#),
        (Array("#1".utf8), ##"\#1"##),
        (Array("a#1".utf8), "a#1"),
        (Array(" a".utf8), #"\ a"#),
        (Array("a ".utf8), #"a\ "#),
        (Array("a  b".utf8), "a  b"),
        (Array(" ".utf8), #"\ "#),
        (Array("  ".utf8), #"\ \ "#),
        (Array("a=b".utf8), "a=b"),
        ([0x61, 0x00, 0x62], #"a\00b"#),
        (Array("Before\rAfter".utf8), #"Before\0DAfter"#),
        (Array("tab\there\u{7F}".utf8), #"tab\09here\7F"#),
        (Array("Lučić ß 日本語 😀".utf8), "Lučić ß 日本語 😀"),
        ([0xFF], #"\FF"#),
        ([0x61, 0xC3], #"a\C3"#),
        ([0xC0, 0xAF], #"\C0\AF"#),
        ([0xED, 0xA0, 0x80], #"\ED\A0\80"#),
        ([0xF4, 0x90, 0x80, 0x80], #"\F4\90\80\80"#),
        ([], ""),
    ]

    @Test(arguments: escapedValues)
    func escapesValuesAsRFC4514Prescribes(_ value: [UInt8], _ expected: String) throws {
        let rdn = try RelativeDistinguishedName("cn", value)
        #expect(rdn.description == "cn=" + expected)
    }

    @Test func printsBERValuesAsHex() throws {
        let pair = try AttributeTypeAndValue("1.3.6.1.4.1.1466.0", berEncoding: [0x04, 0x02, 0x48, 0x69])
        #expect(pair.description == "1.3.6.1.4.1.1466.0=#04024869")
        #expect(pair.stringValue == nil)
    }

    static let canonicalForms: [(String, String)] = [
        ("CN=Steve Kille,O=Isode Limited,C=GB", "CN=Steve Kille,O=Isode Limited,C=GB"),
        ("cn = a , dc = x", "cn=a,dc=x"),
        ("OU=Sales + CN=J.  Smith , DC=example", "OU=Sales+CN=J.  Smith,DC=example"),
        (#"CN=Before\0dAfter"#, #"CN=Before\0DAfter"#),
        (#"CN=Lu\C4\8Di\C4\87"#, "CN=Lučić"),
        (#"cn=a\=b\ c"#, "cn=a=b c"),
        (##"cn=\ \#x\ "##, ##"cn=\ #x\ "##),
        ("1.3.6.1.4.1.1466.0=#04024869", "1.3.6.1.4.1.1466.0=#04024869"),
        ("cn=#0a0B", "cn=#0A0B"),
        ("", ""),
    ]

    @Test(arguments: canonicalForms)
    func printsTheCanonicalForm(_ dn: String, _ expected: String) throws {
        #expect(try DistinguishedName(parsing: dn).description == expected)
    }
}

@Suite struct DistinguishedNameBuildingTests {
    @Test func buildsAChildFromARawValueWithoutStringConcatenation() throws {
        let people = try DistinguishedName(parsing: "ou=people,dc=example,dc=com")
        let dn = try people.child("uid", "x,ou=admins+cn=root")
        #expect(dn.description == #"uid=x\,ou=admins\+cn=root,ou=people,dc=example,dc=com"#)
        #expect(dn.rdns.count == 4)
        #expect(dn.parent == people)
        #expect(dn.rdn == (try RelativeDistinguishedName("uid", "x,ou=admins+cn=root")))
    }

    @Test func buildsFromRDNs() throws {
        let rdn = try RelativeDistinguishedName("ou", "Sales").adding(AttributeTypeAndValue("cn", "J.  Smith"))
        let dn = DistinguishedName(rdns: [rdn, try RelativeDistinguishedName("dc", "net")])
        #expect(dn.description == "ou=Sales+cn=J.  Smith,dc=net")
        #expect(dn == (try DistinguishedName(parsing: "ou=Sales+cn=J.  Smith,dc=net")))
    }

    @Test func rootHasNoParentAndNoRDN() throws {
        #expect(DistinguishedName.root.isRoot)
        #expect(DistinguishedName.root.parent == nil)
        #expect(DistinguishedName.root.rdn == nil)
        #expect(DistinguishedName.root.description == "")
        #expect(try DistinguishedName(parsing: "dc=com").parent == .root)
        #expect(RelativeDistinguishedName([]) == nil)
    }

    @Test(arguments: ["", "c n", "member;range=0-1499", "_cn", "1.", "01.2", "cn=x", "é"])
    func refusesAnAttributeTypeThatIsNotANameOrOID(_ type: String) {
        let error = #expect(throws: DNError.self) { try RelativeDistinguishedName(AttributeName(type), "value") }
        #expect(error?.reason == .invalidAttributeType)
        #expect(error?.input == type)
    }

    @Test func refusesAnEmptyBERValue() {
        #expect(throws: DNError(input: "cn", offset: 0, reason: .emptyBEREncoding)) {
            try AttributeTypeAndValue("cn", berEncoding: [])
        }
    }

    @Test func exactEqualityIsStructural() throws {
        let dn = try DistinguishedName(parsing: "cn=John Smith,dc=example")
        #expect(dn == (try DistinguishedName(parsing: "CN = John Smith , DC=example")))
        #expect(dn != (try DistinguishedName(parsing: "cn=john smith,dc=example")))
        #expect(dn != (try DistinguishedName(parsing: "cn=John  Smith,dc=example")))
        let multi = try DistinguishedName(parsing: "ou=a+cn=b")
        #expect(multi != (try DistinguishedName(parsing: "cn=b+ou=a")))
    }

    static let descendants: [(String, String, Bool, Bool)] = [
        // (dn, ancestor, isDescendant, isEqualOrDescendant)
        ("uid=x,ou=People,dc=example", "OU=people, DC=Example", true, true),
        ("uid=x,ou=people,dc=example", "dc=example", true, true),
        ("ou=people,dc=example", "ou=people,dc=example", false, true),
        ("dc=example", "ou=people,dc=example", false, false),
        ("cn=x,dc=example", "dc=ample", false, false),
        ("cn=x,ou=people2,dc=example", "ou=people,dc=example", false, false),
        ("cn=x,dc=example", "", true, true),
        ("", "", false, true),
    ]

    @Test(arguments: descendants)
    func tellsWhetherADNIsBelowAnother(_ dn: String, _ ancestor: String, _ below: Bool, _ atOrBelow: Bool) throws {
        let name = try DistinguishedName(parsing: dn)
        let base = try DistinguishedName(parsing: ancestor)
        #expect(name.isDescendant(of: base) == below)
        #expect(name.isEqualOrDescendant(of: base) == atOrBelow)
    }

    @Test func exposesTextValuesOnlyWhenTheyAreUTF8() throws {
        let dn = try DistinguishedName(parsing: #"cn=Lu\C4\8Di\C4\87+sn=\ff"#)
        let values = dn.rdn?.attributes.map(\.stringValue)
        #expect(values == ["Lučić", nil])
    }
}
