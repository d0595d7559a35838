import DirectoryModel
import Testing

/// One parsed `type=value` pair, as plain data for table expectations.
struct Pair: Hashable, Sendable, CustomStringConvertible {
    let type: String
    let value: [UInt8]
    let isBER: Bool

    init(_ type: String, _ value: String) {
        self.init(type, bytes: Array(value.utf8))
    }

    init(_ type: String, bytes: [UInt8], isBER: Bool = false) {
        self.type = type
        self.value = bytes
        self.isBER = isBER
    }

    init(_ attribute: AttributeTypeAndValue) {
        self.init(attribute.type.description, bytes: attribute.value, isBER: attribute.isBEREncoded)
    }

    var description: String { "\(type)=\(isBER ? "#" : "")\(hex(value))" }
}

func pairs(_ dn: DistinguishedName) -> [[Pair]] {
    dn.rdns.map { rdn in rdn.attributes.map(Pair.init) }
}

@Suite struct DistinguishedNameParsingTests {
    /// The examples of RFC 4514 §4, and what they mean.
    static let rfc4514Examples: [(String, [[Pair]])] = [
        ("UID=jsmith,DC=example,DC=net", [[Pair("UID", "jsmith")], [Pair("DC", "example")], [Pair("DC", "net")]]),
        (
            "CN=Steve Kille,O=Isode Limited,C=GB",
            [[Pair("CN", "Steve Kille")], [Pair("O", "Isode Limited")], [Pair("C", "GB")]]
        ),
        (
            "OU=Sales+CN=J.  Smith,DC=example,DC=net",
            [[Pair("OU", "Sales"), Pair("CN", "J.  Smith")], [Pair("DC", "example")], [Pair("DC", "net")]]
        ),
        (
            #"CN=James \"Jim\" Smith\, III,DC=example,DC=net"#,
            [[Pair("CN", #"James "Jim" Smith, III"#)], [Pair("DC", "example")], [Pair("DC", "net")]]
        ),
        (
            #"CN=Before\0dAfter,DC=example,DC=net"#,
            [[Pair("CN", "Before\rAfter")], [Pair("DC", "example")], [Pair("DC", "net")]]
        ),
        ("1.3.6.1.4.1.1466.0=#04024869", [[Pair("1.3.6.1.4.1.1466.0", bytes: [0x04, 0x02, 0x48, 0x69], isBER: true)]]),
        (#"CN=Lu\C4\8Di\C4\87"#, [[Pair("CN", "Lučić")]]),
    ]

    @Test(arguments: rfc4514Examples)
    func parsesTheExamplesOfRFC4514(_ dn: String, _ expected: [[Pair]]) throws {
        #expect(pairs(try DistinguishedName(parsing: dn)) == expected)
    }

    static let lenientAndEdgeCases: [(String, [[Pair]])] = [
        ("", []),
        ("   ", []),
        ("cn = a , dc = x", [[Pair("cn", "a")], [Pair("dc", "x")]]),
        ("  ou = Sales + cn = J.  Smith  ,dc=x  ", [[Pair("ou", "Sales"), Pair("cn", "J.  Smith")], [Pair("dc", "x")]]),
        (#"cn=\ a \ "#, [[Pair("cn", " a  ")]]),
        (##"cn=\#1,dc=x"##, [[Pair("cn", "#1")], [Pair("dc", "x")]]),
        ("cn=a#b=c", [[Pair("cn", "a#b=c")]]),
        ("cn=", [[Pair("cn", "")]]),
        ("cn=,dc=x", [[Pair("cn", "")], [Pair("dc", "x")]]),
        (#"cn=a\00b"#, [[Pair("cn", bytes: [0x61, 0x00, 0x62])]]),
        (#"cn=\ff\C3"#, [[Pair("cn", bytes: [0xFF, 0xC3])]]),
        (##"cn=\"\+\,\;\<\>\\\=\ \#"##, [[Pair("cn", ##""+,;<>\= #"##)]]),
        ("cn=日本語 😀", [[Pair("cn", "日本語 😀")]]),
        ("cn= #0401 + sn=x", [[Pair("cn", bytes: [0x04, 0x01], isBER: true), Pair("sn", "x")]]),
        ("x-Attr-9=a,2.5.4.3=b", [[Pair("x-Attr-9", "a")], [Pair("2.5.4.3", "b")]]),
    ]

    @Test(arguments: lenientAndEdgeCases)
    func parsesSpacesEscapesAndEmptyValues(_ dn: String, _ expected: [[Pair]]) throws {
        #expect(pairs(try DistinguishedName(parsing: dn)) == expected)
    }

    static let malformed: [(String, Int, DNError.Reason)] = [
        (#"cn=a\zz,dc=x"#, 4, .badEscape),
        (#"cn=a\"#, 4, .badEscape),
        (#"cn=a\4"#, 4, .badEscape),
        (#"cn=a\4g"#, 4, .badEscape),
        ("cn", 2, .expectedEquals),
        ("c n=a", 2, .expectedEquals),
        ("=a", 0, .expectedAttributeType),
        ("_cn=a", 0, .expectedAttributeType),
        ("cn=a,", 5, .expectedAttributeType),
        ("cn=a,,dc=x", 5, .expectedAttributeType),
        ("cn=a, =b", 6, .expectedAttributeType),
        ("cn=a+", 5, .expectedAttributeType),
        ("1.=a", 2, .expectedAttributeType),
        ("01.2=a", 1, .expectedAttributeType),
        ("2=a", 1, .expectedAttributeType),
        ("cn=a;dc=x", 4, .unescapedCharacter(0x3B)),
        (#"cn=a"b"#, 4, .unescapedCharacter(0x22)),
        ("cn=<", 3, .unescapedCharacter(0x3C)),
        ("cn=a>", 4, .unescapedCharacter(0x3E)),
        ("cn=a\u{0}", 4, .unescapedCharacter(0x00)),
        ("cn=é;", 5, .unescapedCharacter(0x3B)),
        ("cn=#", 4, .expectedHexPair),
        ("cn=#0", 4, .expectedHexPair),
        ("cn=#04x", 6, .expectedSeparator),
        ("cn=#04 x", 7, .expectedSeparator),
    ]

    @Test(arguments: malformed)
    func rejectsMalformedDNAtTheOffendingByte(_ dn: String, _ offset: Int, _ reason: DNError.Reason) {
        #expect(throws: DNError(input: dn, offset: offset, reason: reason)) {
            try DistinguishedName(parsing: dn)
        }
    }

    @Test func errorNamesTheDNTheOffsetAndWhatWasExpected() {
        let error = #expect(throws: DNError.self) { try DistinguishedName(parsing: #"cn=a\zz,dc=x"#) }
        #expect(error?.description == #"invalid DN "cn=a\\zz,dc=x": bad escape at offset 4"#)
    }

    @Test func errorDoesNotPrintControlCharactersOfTheInput() {
        let error = #expect(throws: DNError.self) { try DistinguishedName(parsing: "cn=a\n;") }
        #expect(error?.description == #"invalid DN "cn=a\n;": character 0x3B must be escaped at offset 5"#)
    }
}
