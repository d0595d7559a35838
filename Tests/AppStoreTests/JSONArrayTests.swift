import AppStore
import Testing

@Suite struct JSONArrayTests {
    static let valueLists: [[String]] = [
        [],
        [""],
        ["", "", "a"],
        ["say \"hi\"", "back\\slash", "\\\"", "a/b", "</script>"],
        ["Grüße", "日本語", "émoji 👩‍💻", "\u{7F}", "\u{2028}\u{2029}"],
        ["tab\there", "line\nbreak", "\r\u{8}\u{C}", "nul\u{0}byte", "\u{1}\u{1F}"],
        ["duplicate", "duplicate"],
    ]

    @Test(arguments: valueLists)
    func valuesRoundTripThroughTheCanonicalForm(values: [String]) throws {
        let encoded = AppValue.encodeJSONArray(values)
        #expect(try AppValue.decodeJSONArray(encoded) == values)
        #expect(!encoded.contains(" ") || values.contains { $0.contains(" ") })
    }

    @Test func canonicalFormEscapesOnlyWhatJSONRequires() {
        #expect(AppValue.encodeJSONArray([]) == "[]")
        #expect(AppValue.encodeJSONArray(["a", "b"]) == #"["a","b"]"#)
        #expect(AppValue.encodeJSONArray(["a/b", "é", "\"", "\\"]) == #"["a/b","é","\"","\\"]"#)
        #expect(AppValue.encodeJSONArray(["\n\t\u{0}\u{1F}\u{7F}"]) == "[\"\\n\\t\\u0000\\u001f\u{7F}\"]")
    }

    @Test func decodingAcceptsWhitespaceAndEveryEscape() throws {
        let text = " [ \"a\" ,\n\t\"\\u00e9\\/\\b\\f\\n\\r\\t\\\"\\\\\" , \"\\ud83d\\ude00\" ] "
        #expect(try AppValue.decodeJSONArray(text) == ["a", "é/\u{8}\u{C}\n\r\t\"\\", "😀"])
    }

    @Test(arguments: [
        "", "[", "]", "{}", "\"a\"", "[1]", "[\"a\",]", "[,\"a\"]", "[\"a\" \"b\"]", "[null]",
        "[\"a\"] x", "[\"\\x\"]", "[\"\\u12\"]", "[\"\\ud800\"]", "[\"\\udc00\"]", "[\"\\ud800\\u0041\"]",
        "[\"raw\ttab\"]", "[[\"nested\"]]", "[\"unterminated]",
    ])
    func decodingRejectsAnythingButAnArrayOfStrings(text: String) {
        let error = #expect(throws: AppStoreError.self) { try AppValue.decodeJSONArray(text) }
        #expect(error?.message.contains("not a JSON array of strings") == true)
    }

    @Test func decodingErrorsNeverQuoteTheContent() {
        let error = #expect(throws: AppStoreError.self) { try AppValue.decodeJSONArray("[\"secret\", 42]") }
        #expect(error?.description.contains("secret") == false)
        #expect(error?.description.contains("at byte 11") == true)
    }
}
