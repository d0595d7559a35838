import SyncEngine
import Testing

/// RFC 8785 (JSON Canonicalization Scheme) as `CanonicalJSON` implements it: the RFC's own
/// examples, its number table, and the I-JSON inputs it must refuse.
@Suite struct TransformCanonicalJSONTests {
    @Test func canonicalizesTheRFC8785MainExample() throws {
        // RFC 8785 §3.2.2 input and the output §3.2.4 gives for it.
        let input = #"""
        {
          "numbers": [333333333.33333329, 1E30, 4.50,
                      2e-3, 0.000000000000000000000000001],
          "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
          "literals": [null, true, false]
        }
        """#
        let expected = #"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        #expect(try CanonicalJSON.canonicalize(input) == expected)
    }

    @Test func sortsKeysByUTF16CodeUnitsAsRFC8785SortingExample() throws {
        // RFC 8785 §3.2.3: U+1F600 (a surrogate pair, D83D DE00) sorts before U+FB33,
        // although its code point and UTF-8 bytes are greater.
        let input = #"""
        {
          "\u20ac": "Euro Sign",
          "\r": "Carriage Return",
          "\ufb33": "Hebrew Letter Dalet With Dagesh",
          "1": "One",
          "\ud83d\ude00": "Emoji: Grinning Face",
          "\u0080": "Control",
          "\u00f6": "Latin Small Letter O With Diaeresis"
        }
        """#
        let expected = #"{"\r":"Carriage Return","1":"One","\#u{80}":"Control","ö":"Latin Small Letter O With Diaeresis","€":"Euro Sign","😀":"Emoji: Grinning Face","\#u{FB33}":"Hebrew Letter Dalet With Dagesh"}"#
        #expect(try CanonicalJSON.canonicalize(input) == expected)
    }

    /// RFC 8785 Appendix B: IEEE 754 bit patterns and the text JCS requires for each.
    static let appendixB: [(bits: UInt64, text: String)] = [
        (0x0000_0000_0000_0000, "0"),
        (0x8000_0000_0000_0000, "0"),
        (0x0000_0000_0000_0001, "5e-324"),
        (0x8000_0000_0000_0001, "-5e-324"),
        (0x7FEF_FFFF_FFFF_FFFF, "1.7976931348623157e+308"),
        (0xFFEF_FFFF_FFFF_FFFF, "-1.7976931348623157e+308"),
        (0x4340_0000_0000_0000, "9007199254740992"),
        (0xC340_0000_0000_0000, "-9007199254740992"),
        (0x4430_0000_0000_0000, "295147905179352830000"),
        (0x44B5_2D02_C7E1_4AF5, "9.999999999999997e+22"),
        (0x44B5_2D02_C7E1_4AF6, "1e+23"),
        (0x44B5_2D02_C7E1_4AF7, "1.0000000000000001e+23"),
        (0x444B_1AE4_D6E2_EF4E, "999999999999999700000"),
        (0x444B_1AE4_D6E2_EF4F, "999999999999999900000"),
        (0x444B_1AE4_D6E2_EF50, "1e+21"),
        (0x3EB0_C6F7_A0B5_ED8C, "9.999999999999997e-7"),
        (0x3EB0_C6F7_A0B5_ED8D, "0.000001"),
        (0x41B3_DE43_5555_5553, "333333333.3333332"),
        (0x41B3_DE43_5555_5554, "333333333.33333325"),
        (0x41B3_DE43_5555_5555, "333333333.3333333"),
        (0x41B3_DE43_5555_5556, "333333333.3333334"),
        (0x41B3_DE43_5555_5557, "333333333.33333343"),
        (0xBECB_F647_612F_3696, "-0.0000033333333333333333"),
        (0x4314_3FF3_C1CB_0959, "1424953923781206.2"),
    ]

    @Test(arguments: appendixB)
    func writesNumbersAsRFC8785AppendixB(bits: UInt64, text: String) throws {
        let value = Double(bitPattern: bits)
        #expect(try CanonicalJSON.numberText(value) == text)
        // The same through the parser, from Swift's own spelling of the double ("1e+23",
        // "9007199254740992.0", "-0.0"), which is valid JSON.
        #expect(try CanonicalJSON.canonicalize(value.description) == text)
    }

    @Test(arguments: [Double.nan, .infinity, -.infinity])
    func refusesNumbersWithoutAJSONForm(value: Double) {
        #expect(throws: TransformError.self) { try CanonicalJSON.numberText(value) }
    }

    @Test(arguments: [
        ("1.0", "1"),
        ("-1.0", "-1"),
        ("100", "100"),
        ("1e2", "100"),
        ("1E+2", "100"),
        ("12.50", "12.5"),
        ("-0", "0"),
        ("-0.0", "0"),
        ("0e10", "0"),
        ("0.1", "0.1"),
        ("0.000001", "0.000001"),
        ("1e-6", "0.000001"),
        ("0.0000001", "1e-7"),
        ("-1.5e-10", "-1.5e-10"),
        ("1e21", "1e+21"),
        ("1E21", "1e+21"),
        ("100000000000000000000", "100000000000000000000"),
        ("999999999999999999999", "1e+21"),
        ("123e18", "123000000000000000000"),
        ("1.5e300", "1.5e+300"),
        ("9007199254740991", "9007199254740991"),
        // Beyond 2^53 an integer is the nearest double (I-JSON), as RFC 8785 requires.
        ("9007199254740993", "9007199254740992"),
        ("-9007199254740993", "-9007199254740992"),
        ("123456789012345678901234567890", "1.2345678901234568e+29"),
        ("1e-400", "0"),
    ])
    func writesNumberSpellingsInECMAScriptForm(input: String, canonical: String) throws {
        #expect(try CanonicalJSON.canonicalize(input) == canonical)
    }

    @Test(arguments: [
        (#""\u0041\u00e9\u20ac""#, #""Aé€""#),
        (#""\ud83d\ude00""#, #""😀""#),
        (#""\/""#, #""/""#),
        (#""\b\f\n\r\t""#, #""\b\f\n\r\t""#),
        (#""\u0008\u000C\u000A\u000D\u0009""#, #""\b\f\n\r\t""#),
        (#""\u0000\u001F\u001f""#, #""\u0000\u001f\u001f""#),
        (#""\u007f\u0080\u2028\u2029""#, "\"\u{7F}\u{80}\u{2028}\u{2029}\""),
        (#""\"\\""#, #""\"\\""#),
        (#""\u0022\u005C""#, #""\"\\""#),
        ("\"é\"", "\"é\""),
        // A combining sequence is kept as it is: canonicalization does no Unicode normalization.
        ("\"e\u{301}\"", "\"e\u{301}\""),
    ])
    func writesStringsWithTheMinimalEscapes(input: String, canonical: String) throws {
        // Bytes, not String ==, which would take "é" and "e\u{301}" for the same.
        #expect(Array(try CanonicalJSON.canonicalize(input).utf8) == Array(canonical.utf8))
    }

    @Test func keepsPrecomposedAndDecomposedKeysApart() throws {
        // Swift's String == treats these as equal; JSON (and LDAP values) do not.
        let canonical = try CanonicalJSON.canonicalize("{\"e\u{301}\":1,\"\u{E9}\":2}")
        #expect(Array(canonical.utf8) == Array("{\"e\u{301}\":1,\"\u{E9}\":2}".utf8))
    }

    @Test(arguments: [
        #"{"b":[1,2,{"y":true,"x":null}],"a":"text"}"#,
        #"{ "b" : [ 1 , 2 , { "y" : true , "x" : null } ] , "a" : "text" }"#,
        "{\n  \"a\": \"text\",\n  \"b\": [\n    1,\n    2,\n    {\n      \"x\": null,\n      \"y\": true\n    }\n  ]\n}\n",
        "\t{\"a\"\t:\"text\",\r\n\"b\":[1.0,2e0,{\"x\":null,\r\"y\":true}]}\r\n",
        #"  {"a":"\u0074ext","b":[10e-1,0.2e1,{"y":true,"x":null}]}  "#,
    ])
    func whitespaceAndKeyOrderVariantsCanonicalizeAlike(input: String) throws {
        #expect(try CanonicalJSON.canonicalize(input) == #"{"a":"text","b":[1,2,{"x":null,"y":true}]}"#)
    }

    @Test(arguments: [
        "{}", "[]", "null", "true", "false", "0", "\"\"", #"{"a":{},"b":[]}"#, "[[[]]]",
    ])
    func canonicalizesEveryKindOfValue(input: String) throws {
        #expect(try CanonicalJSON.canonicalize(input) == input)
    }

    /// Invalid or non-I-JSON text, the byte offset of the problem and words of the
    /// expectation the error must name.
    static let invalid: [(input: String, offset: Int, expected: String)] = [
        ("", 0, "a JSON value"),
        ("   ", 3, "a JSON value"),
        ("[1,2,]", 5, "a JSON value"),
        (#"{"a":1,}"#, 7, "object key"),
        ("{\"a\":1 // note\n}", 7, "',' or '}'"),
        ("/* note */ {}", 0, "a JSON value"),
        ("[NaN]", 1, "a JSON value"),
        ("[Infinity]", 1, "a JSON value"),
        ("[-Infinity]", 2, "a digit"),
        ("[nul]", 1, "a JSON value"),
        ("'a'", 0, "a JSON value"),
        (#""abc"#, 4, "closing the string"),
        (#"{"a":"b"#, 7, "closing the string"),
        (#""\ud800""#, 1, "low surrogate"),
        (#""x\ud800\u0041""#, 2, "low surrogate"),
        (#""\udc00""#, 1, "high surrogate"),
        (#""\ude00\ud83d""#, 1, "high surrogate"),
        (#""\x""#, 2, "after '\\'"),
        (#""\u12g4""#, 5, "hexadecimal"),
        ("\"a\u{1}\"", 2, "control character"),
        ("\"a\nb\"", 2, "control character"),
        (#"{"a":1,"a":2}"#, 7, "duplicate key"),
        (#"{"b":1,"a":2,"b":3}"#, 13, "duplicate key"),
        (#"{"\u00e9":1,"é":2}"#, 12, "duplicate key"),
        ("01", 1, "leading 0"),
        ("-", 1, "a digit"),
        ("1.", 2, "a digit after '.'"),
        (".5", 0, "a JSON value"),
        ("1e", 2, "exponent"),
        ("+1", 0, "a JSON value"),
        ("0x10", 1, "the end of the text"),
        ("1e400", 0, "range of a double"),
        ("-1e400", 0, "range of a double"),
        (#"{"a" 1}"#, 5, "':'"),
        (#"{a:1}"#, 1, "object key"),
        ("[1] [2]", 4, "the end of the text"),
        ("[1 2]", 3, "',' or ']'"),
        ("\u{FEFF}{}", 0, "a JSON value"),
        (String(repeating: "[", count: 200) + String(repeating: "]", count: 200), 128, "nesting"),
    ]

    @Test(arguments: invalid)
    func refusesInvalidJSONWithTheOffset(input: String, offset: Int, expected: String) {
        let error = #expect(throws: TransformError.self) { try CanonicalJSON.canonicalize(input) }
        #expect(error?.offset == offset)
        #expect(error?.message.contains(expected) == true, "\(error?.description ?? "no error")")
        #expect(error?.description.contains("(at byte \(offset))") == true)
    }

    @Test func errorsNeverQuoteTheValue() {
        let error = #expect(throws: TransformError.self) {
            try CanonicalJSON.canonicalize(#"{"password":"hunter2","password":"hunter2"}"#)
        }
        #expect(error?.description.contains("hunter2") == false)
        #expect(error?.description.contains("password") == false)
    }

    @Test(arguments: appendixB.map(\.text) + [
        #"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#,
    ])
    func canonicalTextIsItsOwnCanonicalForm(text: String) throws {
        #expect(try CanonicalJSON.canonicalize(text) == text)
    }
}
