import DirectoryModel
import Testing

@Suite struct FilterEscapingTests {
    static let escapes: [([UInt8], String)] = [
        (Array("Babs Jensen".utf8), "Babs Jensen"),
        (Array("*".utf8), #"\2a"#),
        (Array("(".utf8), #"\28"#),
        (Array(")".utf8), #"\29"#),
        (Array("\\".utf8), #"\5c"#),
        ([0x00], #"\00"#),
        (Array("*)(uid=*))(|(uid=*".utf8), #"\2a\29\28uid=\2a\29\29\28|\28uid=\2a"#),
        (Array("C:\\MyFile".utf8), #"C:\5cMyFile"#),
        (Array("line\nbreak\r\t\u{7F}".utf8), #"line\0abreak\0d\09\7f"#),
        (Array("Lučić ß 日本語 😀".utf8), "Lučić ß 日本語 😀"),
        (Array("=~<>&|!:,+\"#;".utf8), "=~<>&|!:,+\"#;"),
        ([0xFF], #"\ff"#),
        ([0x61, 0xC3], #"a\c3"#),
        ([0xC0, 0xAF], #"\c0\af"#),
        ([0xED, 0xA0, 0x80], #"\ed\a0\80"#),
        ([0x04, 0x02, 0x48, 0x69], #"\04\02Hi"#),
        ([], ""),
    ]

    @Test(arguments: escapes)
    func escapesSpecialCharactersControlsAndInvalidUTF8(_ value: [UInt8], _ expected: String) {
        #expect(Filter.escape(value) == expected)
    }

    @Test func escapesTextTheSameAsItsOctets() {
        #expect(Filter.escape("a*b (c)\\") == #"a\2ab \28c\29\5c"#)
    }
}

@Suite struct FilterDescriptionTests {
    static let rendered: [(Filter, String)] = [
        (
            .and([.equality("objectClass", "inetOrgPerson"), .greaterOrEqual("modifyTimestamp", "20261121153000Z")]),
            "(&(objectClass=inetOrgPerson)(modifyTimestamp>=20261121153000Z))"
        ),
        (.equality("uid", "*)(uid=*"), #"(uid=\2a\29\28uid=\2a)"#),
        (.not(.present("mail")), "(!(mail=*))"),
        (.or([.lessOrEqual("age", "3"), .approx("sn", "Jensen")]), "(|(age<=3)(sn~=Jensen))"),
        (.substring("cn", initial: Array("J".utf8), any: [Array("*".utf8)], final: Array("Smith".utf8)), #"(cn=J*\2a*Smith)"#),
        (.substring("o", initial: nil, any: [Array("univ".utf8), Array("mich".utf8)], final: nil), "(o=*univ*mich*)"),
        (.substring("cn", initial: nil, any: [], final: nil), "(cn=**)"),
        (.extensible("cn", matchingRule: "caseExactMatch", dnAttributes: true, value: Array("Fred".utf8)), "(cn:dn:caseExactMatch:=Fred)"),
        (.extensible(nil, matchingRule: "1.2.3", dnAttributes: false, value: Array("Wilma".utf8)), "(:1.2.3:=Wilma)"),
        (.and([]), "(&)"),
        (.or([]), "(|)"),
        (.equality("cn)(uid=*", "x"), #"(cn\29\28uid\3d\2a=x)"#),
    ]

    @Test(arguments: rendered)
    func printsFiltersWithEscapedValues(_ filter: Filter, _ expected: String) {
        #expect(filter.description == expected)
    }

    @Test func aBadAttributeNameMakesTheFilterUnparseableRatherThanAlteringIt() {
        let filter = Filter.and([.equality("cn)(|(uid", "x"), .present("mail")])
        #expect(throws: FilterError.self) { try Filter(parsing: filter.description) }
    }
}

@Suite struct FilterParsingTests {
    static let valid: [(String, Filter)] = [
        ("(cn=Babs Jensen)", .equality("cn", "Babs Jensen")),
        ("(!(cn=Tim Howes))", .not(.equality("cn", "Tim Howes"))),
        (
            "(&(objectClass=Person)(|(sn=Jensen)(cn=Babs J*)))",
            .and([
                .equality("objectClass", "Person"),
                .or([.equality("sn", "Jensen"), .substring("cn", initial: Array("Babs J".utf8), any: [], final: nil)]),
            ])
        ),
        ("(o=univ*of*mich*)", .substring("o", initial: Array("univ".utf8), any: [Array("of".utf8), Array("mich".utf8)], final: nil)),
        ("(seeAlso=)", .equality("seeAlso", [])),
        ("(cn:caseExactMatch:=Fred Flintstone)", .extensible("cn", matchingRule: "caseExactMatch", dnAttributes: false, value: Array("Fred Flintstone".utf8))),
        ("(cn:=Betty Rubble)", .extensible("cn", matchingRule: nil, dnAttributes: false, value: Array("Betty Rubble".utf8))),
        ("(sn:dn:2.4.6.8.10:=Barney Rubble)", .extensible("sn", matchingRule: "2.4.6.8.10", dnAttributes: true, value: Array("Barney Rubble".utf8))),
        ("(o:dn:=Ace Industry)", .extensible("o", matchingRule: nil, dnAttributes: true, value: Array("Ace Industry".utf8))),
        (":1.2.3:=Wilma Flintstone", .extensible(nil, matchingRule: "1.2.3", dnAttributes: false, value: Array("Wilma Flintstone".utf8))),
        ("(:DN:2.4.6.8.10:=Dino)", .extensible(nil, matchingRule: "2.4.6.8.10", dnAttributes: true, value: Array("Dino".utf8))),
        ("(cn:dnQualifierMatch:=x)", .extensible("cn", matchingRule: "dnQualifierMatch", dnAttributes: false, value: Array("x".utf8))),
        (#"(o=Parens R Us \28for all your parenthetical needs\29)"#, .equality("o", "Parens R Us (for all your parenthetical needs)")),
        (#"(cn=*\2A*)"#, .substring("cn", initial: nil, any: [Array("*".utf8)], final: nil)),
        (#"(filename=C:\5cMyFile)"#, .equality("filename", "C:\\MyFile")),
        (#"(bin=\00\00\00\04)"#, .equality("bin", [0, 0, 0, 4])),
        (#"(sn=Lu\c4\8di\c4\87)"#, .equality("sn", "Lučić")),
        (#"(1.3.6.1.4.1.1466.0=\04\02\48\69)"#, .equality("1.3.6.1.4.1.1466.0", [0x04, 0x02, 0x48, 0x69])),
        ("objectClass=person", .equality("objectClass", "person")),
        ("  &(a=1)(b=2)  ", .and([.equality("a", "1"), .equality("b", "2")])),
        ("(&\n  (objectClass=user)\n  (! (mail=*) )\n)", .and([.equality("objectClass", "user"), .not(.present("mail"))])),
        ("(&)", .and([])),
        ("(|)", .or([])),
        ("(cn~=Jensen)", .approx("cn", "Jensen")),
        ("(age>=3)", .greaterOrEqual("age", "3")),
        ("(age<=3)", .lessOrEqual("age", "3")),
        ("(CN=*)", .present("cn")),
        ("(cn=**)", .substring("cn", initial: nil, any: [], final: nil)),
        ("(cn=a**b)", .substring("cn", initial: Array("a".utf8), any: [], final: Array("b".utf8))),
        ("(mail;lang-en=x )", .equality("mail;lang-en", "x ")),
        ("(cn=日本語)", .equality("cn", "日本語")),
    ]

    @Test(arguments: valid)
    func parsesRFC4515FiltersAndTheLdapsearchShorthand(_ text: String, _ expected: Filter) throws {
        #expect(try Filter(parsing: text) == expected)
    }

    static let malformed: [(String, Int, FilterError.Reason)] = [
        ("", 0, .emptyFilter),
        ("   ", 3, .emptyFilter),
        ("(cn=a", 5, .unbalancedParentheses),
        ("(&(a=b)", 7, .unbalancedParentheses),
        ("(a=b))", 5, .unbalancedParentheses),
        ("(a=b)(c=d)", 5, .trailingCharacters),
        ("(!(a=b)(c=d))", 7, .expectedCloseParenthesis),
        ("(&a=b)", 2, .expectedCloseParenthesis),
        ("(!cn=a)", 2, .expectedOpenParenthesis),
        ("(cn)", 3, .missingEquals),
        ("(c n=a)", 2, .missingEquals),
        ("(cn~a)", 3, .missingEquals),
        ("(cn:dn=a)", 6, .missingEquals),
        ("(=a)", 1, .emptyAttribute),
        ("(>=a)", 1, .emptyAttribute),
        ("()", 1, .emptyAttribute),
        ("=a", 0, .emptyAttribute),
        ("(_cn=a)", 1, .invalidAttribute),
        ("(cn;=a)", 4, .invalidAttribute),
        ("(1.=a)", 3, .invalidAttribute),
        ("(:=a)", 1, .expectedMatchingRule),
        ("(:dn:=a)", 1, .expectedMatchingRule),
        ("(cn:_x:=a)", 4, .expectedMatchingRule),
        (#"(cn=a\zz)"#, 5, .badEscape),
        (#"(cn=a\2)"#, 5, .badEscape),
        (#"(cn=a\*)"#, 5, .badEscape),
        (#"(cn=a\"#, 5, .badEscape),
        ("(cn=a(b)", 5, .unescapedCharacter(0x28)),
        ("(cn=é()", 6, .unescapedCharacter(0x28)),
        ("(cn=a\u{0})", 5, .unescapedCharacter(0x00)),
        ("(cn>=a*)", 6, .unescapedCharacter(0x2A)),
        ("(cn~=*)", 5, .unescapedCharacter(0x2A)),
        ("(cn:=a*b)", 6, .unescapedCharacter(0x2A)),
    ]

    @Test(arguments: malformed)
    func rejectsMalformedFiltersAtTheOffendingByte(_ text: String, _ offset: Int, _ reason: FilterError.Reason) {
        #expect(throws: FilterError(filter: text, offset: offset, reason: reason)) {
            try Filter(parsing: text)
        }
    }

    @Test func errorNamesTheFilterAndTheOffset() {
        let error = #expect(throws: FilterError.self) { try Filter(parsing: "(&(uid=jdoe)(cn=a") }
        #expect(error?.description == #"invalid filter "(&(uid=jdoe)(cn=a": unbalanced parentheses at offset 17"#)
    }
}
