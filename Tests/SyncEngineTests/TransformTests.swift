import DirectoryModel
import SyncEngine
import Testing

private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// The seed case: course completion records kept by the app as one JSON array of objects
/// in a `training` column, and in LDAP as one `trainingRecord` value per course.
@Suite struct TransformJSONTests {
    /// Three courses, pretty-printed, keys in no particular order, numbers spelled loosely.
    static let training = """
    [
      {
        "score": 92,
        "course": "GMP-101",
        "completed": "2026-03-01"
      },
      {"completed": "2026-03-15", "score": 87.50, "course": "SOP-220"},
      {  "course" : "CAPA-301",
         "completed":"2026-04-02",
         "score" : 100.0 }
    ]
    """

    static let canonicalRecords = [
        #"{"completed":"2026-03-01","course":"GMP-101","score":92}"#,
        #"{"completed":"2026-03-15","course":"SOP-220","score":87.5}"#,
        #"{"completed":"2026-04-02","course":"CAPA-301","score":100}"#,
    ]

    static let canonicalTraining = "[" + canonicalRecords.joined(separator: ",") + "]"

    @Test func appArrayOfCoursesBecomesOneCanonicalLDAPValuePerCourse() throws {
        let values = try Transforms.ldapValues(fromApp: .text(Self.training), transform: .json, multiValued: true)
        #expect(values == Self.canonicalRecords.map(bytes))
    }

    @Test func ldapValuesBecomeTheCanonicalArrayWhateverTheirOrder() throws {
        let records = Self.canonicalRecords.map(bytes)
        for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0]] {
            let app = try Transforms.appValue(fromLDAP: order.map { records[$0] }, transform: .json, multiValued: true)
            #expect(app == .text(Self.canonicalTraining))
        }
    }

    @Test func ldapValuesWrittenByOthersAreCanonicalizedAndDuplicatesCollapse() throws {
        let values = [
            #"{ "score": 100, "course": "CAPA-301", "completed": "2026-04-02" }"#,
            #"{"course":"GMP-101","completed":"2026-03-01","score":92.0}"#,
            #"{"score":87.5,"course":"SOP-220","completed":"2026-03-15"}"#,
            // The same record as the second, spelled differently.
            #"{"completed":"2026-03-01","score":9.2e1,"course":"GMP-\u0031\u00301"}"#,
        ].map(bytes)
        let app = try Transforms.appValue(fromLDAP: values, transform: .json, multiValued: true)
        #expect(app == .text(Self.canonicalTraining))
    }

    @Test func appToLDAPToAppGivesTheCanonicalArray() throws {
        let ldap = try Transforms.ldapValues(fromApp: .text(Self.training), transform: .json, multiValued: true)
        let back = try Transforms.appValue(fromLDAP: ldap, transform: .json, multiValued: true)
        #expect(back == .text(Self.canonicalTraining))
        // The canonical array maps to the same LDAP values again.
        let again = try Transforms.ldapValues(fromApp: back, transform: .json, multiValued: true)
        #expect(Set(again) == Set(ldap))
        #expect(Transforms.roundTrips(app: .text(Self.training), transform: .json, multiValued: true))
        #expect(Transforms.roundTrips(app: .text(Self.canonicalTraining), transform: .json, multiValued: true))
    }

    @Test func ldapToAppToLDAPGivesTheSameSet() throws {
        let ldap = [2, 0, 1].map { bytes(Self.canonicalRecords[$0]) }
        let app = try Transforms.appValue(fromLDAP: ldap, transform: .json, multiValued: true)
        let back = try Transforms.ldapValues(fromApp: app, transform: .json, multiValued: true)
        #expect(Set(back) == Set(ldap))
        #expect(back.count == ldap.count)
    }

    @Test func nestedValuesInsideARecordAreCanonicalizedToo() throws {
        let app = #"[{"course":"GMP-101","modules":[{"b":2,"a":1},"x"],"meta":{"z":null,"y":[true,false]}}]"#
        let values = try Transforms.ldapValues(fromApp: .text(app), transform: .json, multiValued: true)
        #expect(values == [bytes(#"{"course":"GMP-101","meta":{"y":[true,false],"z":null},"modules":[{"a":1,"b":2},"x"]}"#)])
    }

    @Test func duplicateRecordsInTheAppArrayAreWrittenOnce() throws {
        let app = #"[{"a":1,"b":2},{"b":2,"a":1.0}]"#
        let values = try Transforms.ldapValues(fromApp: .text(app), transform: .json, multiValued: true)
        #expect(values == [bytes(#"{"a":1,"b":2}"#)])
    }

    @Test(arguments: [AppValue.null, .text(""), .text("[]"), .text(" [ ] ")])
    func noRecordsMeanNoLDAPValues(app: AppValue) throws {
        #expect(try Transforms.ldapValues(fromApp: app, transform: .json, multiValued: true) == [])
        #expect(Transforms.roundTrips(app: app, transform: .json, multiValued: true))
    }

    @Test func noLDAPValuesMeanNull() throws {
        #expect(try Transforms.appValue(fromLDAP: [], transform: .json, multiValued: true) == .null)
        #expect(try Transforms.appValue(fromLDAP: [[]], transform: .json, multiValued: true) == .null)
    }

    /// App values that are not a JSON array of objects: the offset, and words of the
    /// expectation that the error must name.
    @Test(arguments: [
        (#"{"course":"GMP-101"}"#, 0, "'['"),
        (#"[{"course":"GMP-101"}, "GMP-102"]"#, 23, "a JSON object"),
        (#"[{"course":"GMP-101"},]"#, 22, "a JSON object"),
        (#"[{"course":"GMP-101"}"#, 21, "',' or ']'"),
        (#"[{"course":"GMP-101","course":"GMP-102"}]"#, 21, "duplicate key"),
        (#"[{"score":NaN}]"#, 10, "a JSON value"),
        ("[[]]", 1, "a JSON object"),
    ])
    func appValuesThatAreNotArraysOfObjectsAreRefused(app: String, offset: Int, expected: String) {
        let error = #expect(throws: TransformError.self) {
            try Transforms.ldapValues(fromApp: .text(app), transform: .json, multiValued: true)
        }
        #expect(error?.offset == offset)
        #expect(error?.message.hasPrefix("app value is not a JSON array of objects") == true)
        #expect(error?.message.contains(expected) == true, "\(error?.description ?? "no error")")
        #expect(!Transforms.roundTrips(app: .text(app), transform: .json, multiValued: true))
    }

    @Test func ldapValuesThatAreNotObjectsAreRefusedNamingWhichValue() {
        let values = [bytes(#"{"course":"GMP-101"}"#), bytes(#"["GMP-102"]"#)]
        let error = #expect(throws: TransformError.self) {
            try Transforms.appValue(fromLDAP: values, transform: .json, multiValued: true)
        }
        #expect(error?.description == "LDAP value 2 of 2 is not a JSON object: expected a JSON object (at byte 0)")
    }

    @Test func ldapValuesThatAreNotUTF8AreRefusedWithTheOffset() {
        let value: [UInt8] = bytes(#"{"course":""#) + [0xC3, 0x28] + bytes(#""}"#)
        let error = #expect(throws: TransformError.self) {
            try Transforms.appValue(fromLDAP: [value], transform: .json, multiValued: true)
        }
        #expect(error?.description == "LDAP value is not a JSON object: expected valid UTF-8 (at byte 11)")
    }

    @Test func errorsNeverQuoteTheRecords() {
        let app = #"[{"ssn":"078-05-1120"} {"ssn":"078-05-1121"}]"#
        let error = #expect(throws: TransformError.self) {
            try Transforms.ldapValues(fromApp: .text(app), transform: .json, multiValued: true)
        }
        #expect(error?.description.contains("078") == false)
        #expect(error?.description.contains("ssn") == false)
    }

    @Test func jsonNeedsAMultiValuedAttributeAndTextInTheApp() {
        #expect(throws: TransformError.self) {
            try Transforms.ldapValues(fromApp: .text(Self.training), transform: .json, multiValued: false)
        }
        #expect(throws: TransformError.self) {
            try Transforms.appValue(fromLDAP: Self.canonicalRecords.map(bytes), transform: .json, multiValued: false)
        }
        #expect(throws: TransformError.self) {
            try Transforms.ldapValues(fromApp: .integer(7), transform: .json, multiValued: true)
        }
        #expect(throws: TransformError.self) {
            try Transforms.ldapValues(fromApp: .blob(bytes(Self.training)), transform: .json, multiValued: true)
        }
        #expect(!Transforms.roundTrips(app: .text(Self.training), transform: .json, multiValued: false))
    }
}

/// One row of a transform table: the app value, the LDAP values it gives, the app value
/// those give back, and whether the app value round-trips.
struct TransformCase: Sendable, CustomTestStringConvertible {
    var app: AppValue
    var ldap: [String]
    var back: AppValue
    var roundTrips: Bool

    init(_ app: AppValue, _ ldap: [String], back: AppValue? = nil, roundTrips: Bool? = nil) {
        self.app = app
        self.ldap = ldap
        self.back = back ?? app
        self.roundTrips = roundTrips ?? (back == nil || back == app)
    }

    var testDescription: String { "\(app) ↔ \(ldap)" }
}

@Suite struct TransformTableTests {
    private func check(_ row: TransformCase, _ transform: ValueTransform?, multiValued: Bool) throws {
        let ldap = try Transforms.ldapValues(fromApp: row.app, transform: transform, multiValued: multiValued)
        #expect(ldap == row.ldap.map(bytes))
        let back = try Transforms.appValue(fromLDAP: ldap, transform: transform, multiValued: multiValued)
        #expect(back == row.back)
        #expect(Transforms.roundTrips(app: row.app, transform: transform, multiValued: multiValued) == row.roundTrips)
    }

    @Test(arguments: [
        TransformCase(.text("John"), ["John"]),
        TransformCase(.text("Jöhn Smith-Ørsted"), ["Jöhn Smith-Ørsted"]),
        TransformCase(.null, []),
        TransformCase(.text(""), [], back: .null, roundTrips: true),
        TransformCase(.integer(42), ["42"], back: .text("42"), roundTrips: true),
        TransformCase(.integer(-7), ["-7"], back: .text("-7"), roundTrips: true),
        TransformCase(.blob(bytes("abc")), ["abc"], back: .text("abc"), roundTrips: true),
    ])
    func singleValuedWithoutTransform(row: TransformCase) throws {
        try check(row, nil, multiValued: false)
    }

    @Test func singleValuedBinaryWithoutTransformIsWrittenAsItIs() throws {
        let photo: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10]
        #expect(try Transforms.ldapValues(fromApp: .blob(photo), transform: nil, multiValued: false) == [photo])
        // Not text, so it cannot come back as a text column.
        #expect(!Transforms.roundTrips(app: .blob(photo), transform: nil, multiValued: false))
    }

    @Test(arguments: [
        TransformCase(.text(#"["a@example.com","b@example.com"]"#), ["a@example.com", "b@example.com"]),
        TransformCase(.text(#"["b","a"]"#), ["b", "a"]),
        TransformCase(.text(#"[ "b" , "a" ]"#), ["b", "a"], back: .text(#"["b","a"]"#), roundTrips: true),
        TransformCase(.text(#"["a","a"]"#), ["a"], back: .text(#"["a"]"#), roundTrips: true),
        // An empty string cannot be an LDAP value, so it does not come back.
        TransformCase(.text(#"["a",""]"#), ["a"], back: .text(#"["a"]"#), roundTrips: false),
        TransformCase(.text("[]"), [], back: .null, roundTrips: true),
        TransformCase(.text(""), [], back: .null, roundTrips: true),
        TransformCase(.null, []),
    ])
    func multiValuedWithoutTransform(row: TransformCase) throws {
        try check(row, nil, multiValued: true)
    }

    @Test func multiValuedWithoutTransformKeepsLDAPOrderInTheApp() throws {
        let app = try Transforms.appValue(fromLDAP: [bytes("z"), bytes("a\"b"), bytes("m")], transform: nil, multiValued: true)
        #expect(app == .text(#"["z","a\"b","m"]"#))
    }

    @Test func singleValuedWithoutTransformTakesTheFirstLDAPValue() throws {
        let app = try Transforms.appValue(fromLDAP: [bytes("first"), bytes("second")], transform: nil, multiValued: false)
        #expect(app == .text("first"))
        #expect(try Transforms.appValue(fromLDAP: [], transform: nil, multiValued: false) == .null)
    }

    @Test(arguments: [
        (AppValue.text(#"["a",]"#), Int?(5), "app value is not a JSON array of strings"),
        (.text(#"{"a":1}"#), 0, "app value is not a JSON array of strings"),
        (.integer(3), nil, "is an integer"),
        (.blob([1, 2]), nil, "is binary"),
    ])
    func multiValuedAppValuesThatAreNotArraysOfStringsAreRefused(app: AppValue, offset: Int?, expected: String) {
        let error = #expect(throws: TransformError.self) {
            try Transforms.ldapValues(fromApp: app, transform: nil, multiValued: true)
        }
        #expect(error?.offset == offset)
        #expect(error?.message.contains(expected) == true, "\(error?.description ?? "no error")")
        #expect(!Transforms.roundTrips(app: app, transform: nil, multiValued: true))
    }

    @Test(arguments: [
        ([[UInt8]]([[0xC3, 0x28]]), "LDAP value is not valid UTF-8 text (at byte 0)"),
        ([bytes("ok"), [0x61, 0x62, 0xFF]], "LDAP value 2 of 2 is not valid UTF-8 text (at byte 2)"),
        ([bytes("ok"), [0x61, 0xE2, 0x82]], "LDAP value 2 of 2 is not valid UTF-8 text (at byte 1)"),
    ])
    func ldapValuesThatAreNotUTF8AreRefused(values: [[UInt8]], description: String) {
        for transform in [nil, .lowercase, .trim] as [ValueTransform?] {
            let error = #expect(throws: TransformError.self) {
                try Transforms.appValue(fromLDAP: values, transform: transform, multiValued: true)
            }
            #expect(error?.description == description)
        }
    }

    @Test(arguments: [
        TransformCase(.text("MiXed"), ["mixed"], back: .text("mixed")),
        TransformCase(.text("mixed"), ["mixed"]),
        TransformCase(.text("\u{C4}RGER \u{130}st \u{3A3}\u{39F}\u{3A6}\u{38A}\u{391}"), ["\u{E4}rger i\u{307}st \u{3C3}\u{3BF}\u{3C6}\u{3AF}\u{3B1}"],
                      back: .text("\u{E4}rger i\u{307}st \u{3C3}\u{3BF}\u{3C6}\u{3AF}\u{3B1}")),
        TransformCase(.text("j.doe@example.com"), ["j.doe@example.com"]),
        TransformCase(.integer(12), ["12"], back: .text("12"), roundTrips: true),
        TransformCase(.null, []),
        TransformCase(.text(""), [], back: .null, roundTrips: true),
    ])
    func lowercaseSingleValued(row: TransformCase) throws {
        try check(row, .lowercase, multiValued: false)
    }

    @Test(arguments: [
        TransformCase(.text(#"["A@Example.COM","b@example.com"]"#), ["a@example.com", "b@example.com"],
                      back: .text(#"["a@example.com","b@example.com"]"#)),
        TransformCase(.text(#"["a@example.com","b@example.com"]"#), ["a@example.com", "b@example.com"]),
        TransformCase(.text(#"["A","a"]"#), ["a"], back: .text(#"["a"]"#)),
        TransformCase(.text("[]"), [], back: .null, roundTrips: true),
    ])
    func lowercaseMultiValued(row: TransformCase) throws {
        try check(row, .lowercase, multiValued: true)
    }

    @Test func lowercaseAppliesFromLDAPToo() throws {
        #expect(try Transforms.appValue(fromLDAP: [bytes("JDoe")], transform: .lowercase, multiValued: false) == .text("jdoe"))
        #expect(try Transforms.appValue(fromLDAP: [bytes("B"), bytes("A"), bytes("b")], transform: .lowercase, multiValued: true)
            == .text(#"["b","a"]"#))
    }

    @Test(arguments: [
        TransformCase(.text("  jdoe \t"), ["jdoe"], back: .text("jdoe")),
        TransformCase(.text("jdoe"), ["jdoe"]),
        TransformCase(.text("John  Smith"), ["John  Smith"]),
        TransformCase(.text("\u{A0}x\u{2003}\n"), ["x"], back: .text("x")),
        TransformCase(.text("   "), [], back: .null, roundTrips: false),
        TransformCase(.text(""), [], back: .null, roundTrips: true),
        TransformCase(.null, []),
    ])
    func trimSingleValued(row: TransformCase) throws {
        try check(row, .trim, multiValued: false)
    }

    @Test(arguments: [
        TransformCase(.text(#"[" a ","b\n"]"#), ["a", "b"], back: .text(#"["a","b"]"#)),
        TransformCase(.text(#"["a","b"]"#), ["a", "b"]),
        TransformCase(.text(#"["a"," a","  "]"#), ["a"], back: .text(#"["a"]"#)),
    ])
    func trimMultiValued(row: TransformCase) throws {
        try check(row, .trim, multiValued: true)
    }

    @Test func trimAppliesFromLDAPToo() throws {
        #expect(try Transforms.appValue(fromLDAP: [bytes(" x ")], transform: .trim, multiValued: false) == .text("x"))
        #expect(try Transforms.appValue(fromLDAP: [bytes(" ")], transform: .trim, multiValued: false) == .null)
        #expect(try Transforms.appValue(fromLDAP: [bytes("b "), bytes(" a")], transform: .trim, multiValued: true)
            == .text(#"["b","a"]"#))
    }

    @Test(arguments: [
        TransformCase(.text("a,b,c"), ["a", "b", "c"]),
        TransformCase(.text("c,a,b"), ["c", "a", "b"]),
        TransformCase(.text("single"), ["single"]),
        TransformCase(.text("a,,b,"), ["a", "b"], back: .text("a,b")),
        TransformCase(.text(",a"), ["a"], back: .text("a")),
        TransformCase(.text("a,a"), ["a"], back: .text("a")),
        TransformCase(.text("a, b"), ["a", " b"]),
        TransformCase(.text(","), [], back: .null),
        TransformCase(.text(""), [], back: .null, roundTrips: true),
        TransformCase(.null, []),
        TransformCase(.integer(42), ["42"], back: .text("42"), roundTrips: true),
    ])
    func joinOnComma(row: TransformCase) throws {
        try check(row, .join(","), multiValued: false)
    }

    @Test(arguments: [
        (ValueTransform.join(", "), "a, b, c", ["a", "b", "c"]),
        (.join("·"), "ä·b·ç", ["ä", "b", "ç"]),
        (.join("||"), "a|b||c", ["a|b", "c"]),
    ])
    func joinOnOtherSeparators(transform: ValueTransform, app: String, ldap: [String]) throws {
        try check(TransformCase(.text(app), ldap), transform, multiValued: false)
    }

    @Test func joinJoinsInLDAPValueOrder() throws {
        let app = try Transforms.appValue(fromLDAP: [bytes("x"), bytes("z"), bytes("y")], transform: .join(","), multiValued: false)
        #expect(app == .text("x,z,y"))
    }

    @Test func joinRefusesAnLDAPValueHoldingTheSeparator() {
        let error = #expect(throws: TransformError.self) {
            try Transforms.appValue(fromLDAP: [bytes("x"), bytes("Smith, John")], transform: .join(","), multiValued: false)
        }
        #expect(error?.offset == 5)
        #expect(error?.message.hasPrefix("LDAP value 2 of 2 contains the join separator") == true)
        #expect(error?.description.contains("Smith") == false)
    }

    @Test func joinNeedsASingleValuedColumnAndASeparator() {
        #expect(throws: TransformError.self) {
            try Transforms.ldapValues(fromApp: .text("a,b"), transform: .join(","), multiValued: true)
        }
        #expect(throws: TransformError.self) {
            try Transforms.appValue(fromLDAP: [bytes("a")], transform: .join(","), multiValued: true)
        }
        #expect(throws: TransformError.self) {
            try Transforms.ldapValues(fromApp: .text("a,b"), transform: .join(""), multiValued: false)
        }
        #expect(!Transforms.roundTrips(app: .text("a,b"), transform: .join(","), multiValued: true))
    }

    @Test(arguments: [ValueTransform.lowercase, .trim, .join(",")])
    func textTransformsRefuseBinaryAppValues(transform: ValueTransform) {
        let error = #expect(throws: TransformError.self) {
            try Transforms.ldapValues(fromApp: .blob([0xFF, 0x00]), transform: transform, multiValued: false)
        }
        #expect(error?.message.contains("binary") == true)
    }

    @Test(arguments: [nil, ValueTransform.lowercase, .trim, .json, .join(",")])
    func nullRoundTripsUnderEveryTransform(transform: ValueTransform?) throws {
        let multiValued = transform == .json
        #expect(try Transforms.ldapValues(fromApp: .null, transform: transform, multiValued: multiValued) == [])
        #expect(try Transforms.appValue(fromLDAP: [], transform: transform, multiValued: multiValued) == .null)
        #expect(Transforms.roundTrips(app: .null, transform: transform, multiValued: multiValued))
    }
}
