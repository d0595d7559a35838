import DirectoryModel
/// The JSON Canonicalization Scheme (RFC 8785, "JCS"): one text per JSON value, so that
/// the same data always gives the same bytes whatever whitespace, key order, escapes or
/// number spellings it was written with.
///
/// - Object keys are sorted by their UTF-16 code units (so U+1F600 sorts before U+FB33,
///   unlike byte or code-point order); no whitespace is written.
/// - Strings escape only `"`, `\` and the controls below U+0020 (`\b \t \n \f \r`, others
///   as lowercase `\u00xx`); everything else, `/` and non-ASCII included, is written as
///   UTF-8.
/// - Numbers are IEEE 754 doubles written as ECMAScript's `Number.prototype.toString`
///   does (see ``numberText(_:)``).
///
/// The input must be I-JSON (RFC 7493), as RFC 8785 requires: strict RFC 8259 syntax (no
/// comments, trailing commas, `NaN`, single quotes or byte order mark), valid UTF-8, no
/// lone surrogates in `\u` escapes, no duplicate keys in an object, and numbers within
/// the range of a double. Nesting deeper than ``maximumDepth`` is refused rather than
/// risking the stack.
///
/// Errors say what was expected and at which byte (UTF-8 offset) of the input, never the
/// input itself: the values canonicalized here may be sensitive.
public enum CanonicalJSON {
    /// How deeply arrays and objects may nest.
    public static let maximumDepth = 128

    /// The canonical form of the JSON text `text` (any JSON value, not only objects).
    public static func canonicalize(_ text: String) throws(TransformError) -> String {
        var parser = JSONCanonicalParser(bytes: Array(text.utf8))
        do {
            return String(decoding: try parser.document(), as: UTF8.self)
        } catch {
            throw error.transformError("not valid JSON")
        }
    }

    /// A double as RFC 8785 §3.2.2.3 writes it: ECMAScript's `Number.prototype.toString`.
    ///
    /// `-0` is `0`; integers up to 10^21 are written in full (`1e21` and above in exponent
    /// form, `1e+21`); numbers from 10^-6 on are written in plain decimal (`0.000001`),
    /// smaller ones in exponent form (`1e-7`); exponents have a sign and no leading zeros
    /// (`1e+30`, `5e-324`). The digits are the shortest that read back as the same double,
    /// the closest to it when several are as short: Swift's own shortest round-trip
    /// digits (those of `Double.description`), which follow the rule ECMAScript gives.
    /// NaN and the infinities have no JSON form and are an error.
    public static func numberText(_ value: Double) throws(TransformError) -> String {
        guard value.isFinite else {
            throw TransformError("NaN and infinite numbers have no JSON form")
        }
        return String(decoding: ecmaScriptNumber(value), as: UTF8.self)
    }

    /// The canonical UTF-8 bytes of the JSON text in `bytes`.
    static func canonicalize(utf8 bytes: [UInt8]) throws(JSONSyntaxError) -> [UInt8] {
        var parser = JSONCanonicalParser(bytes: bytes)
        return try parser.document()
    }

    /// The canonical form of each object of a JSON array of objects, in array order.
    static func canonicalObjects(inArray bytes: [UInt8]) throws(JSONSyntaxError) -> [[UInt8]] {
        var parser = JSONCanonicalParser(bytes: bytes)
        return try parser.arrayOfObjectsDocument()
    }

    /// The canonical form of a JSON object (the whole text must be one object).
    static func canonicalObject(_ bytes: [UInt8]) throws(JSONSyntaxError) -> [UInt8] {
        var parser = JSONCanonicalParser(bytes: bytes)
        return try parser.objectDocument()
    }

    /// `text` as a canonical JSON string, quotes included.
    static func appendString(_ text: [UInt8], to out: inout [UInt8]) {
        JSONStringArray.appendString(text, to: &out)
    }
}


/// A place where the text is not the JSON expected: what was expected, and the byte offset.
struct JSONSyntaxError: Error, Hashable {
    var expected: String
    var offset: Int

    /// The public error, `subject` saying what the text should have been ("not valid JSON",
    /// "app value is not a JSON array of objects").
    func transformError(_ subject: String) -> TransformError {
        TransformError("\(subject): expected \(expected)", offset: offset)
    }
}

/// A recursive-descent RFC 8259 parser that writes the canonical form as it reads: each
/// value's canonical bytes are built bottom-up, an object's members sorted once all are read.
private struct JSONCanonicalParser {
    let bytes: [UInt8]
    var index = 0
    var depth = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func document() throws(JSONSyntaxError) -> [UInt8] {
        skipWhitespace()
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        try value(into: &out)
        try end()
        return out
    }

    mutating func objectDocument() throws(JSONSyntaxError) -> [UInt8] {
        skipWhitespace()
        guard peek() == UInt8(ascii: "{") else { throw failure("a JSON object") }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        try object(into: &out)
        try end()
        return out
    }

    mutating func arrayOfObjectsDocument() throws(JSONSyntaxError) -> [[UInt8]] {
        skipWhitespace()
        guard peek() == UInt8(ascii: "[") else { throw failure("'[' opening an array of objects") }
        index += 1
        var objects: [[UInt8]] = []
        skipWhitespace()
        if peek() == UInt8(ascii: "]") {
            index += 1
        } else {
            while true {
                skipWhitespace()
                guard peek() == UInt8(ascii: "{") else { throw failure("a JSON object as array element") }
                var out: [UInt8] = []
                try object(into: &out)
                objects.append(out)
                skipWhitespace()
                guard let byte = peek() else { throw failure("',' or ']'") }
                guard byte == UInt8(ascii: ",") || byte == UInt8(ascii: "]") else { throw failure("',' or ']'") }
                index += 1
                if byte == UInt8(ascii: "]") { break }
            }
        }
        try end()
        return objects
    }

    private mutating func end() throws(JSONSyntaxError) {
        skipWhitespace()
        guard index == bytes.count else { throw failure("the end of the text") }
    }

    private mutating func value(into out: inout [UInt8]) throws(JSONSyntaxError) {
        guard let byte = peek() else { throw failure("a JSON value") }
        switch byte {
        case UInt8(ascii: "{"): try object(into: &out)
        case UInt8(ascii: "["): try array(into: &out)
        case UInt8(ascii: "\""): CanonicalJSON.appendString(try string(), to: &out)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try number(into: &out)
        case UInt8(ascii: "t"): try literal("true", into: &out)
        case UInt8(ascii: "f"): try literal("false", into: &out)
        case UInt8(ascii: "n"): try literal("null", into: &out)
        default: throw failure("a JSON value")
        }
    }

    private mutating func enter() throws(JSONSyntaxError) {
        guard depth < CanonicalJSON.maximumDepth else {
            throw failure("nesting no deeper than \(CanonicalJSON.maximumDepth) levels")
        }
        depth += 1
    }

    private mutating func object(into out: inout [UInt8]) throws(JSONSyntaxError) {
        try enter()
        index += 1  // '{'
        var members: [(sortKey: [UInt16], key: [UInt8], value: [UInt8], offset: Int)] = []
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            index += 1
        } else {
            while true {
                skipWhitespace()
                let keyOffset = index
                guard peek() == UInt8(ascii: "\"") else { throw failure("'\"' opening an object key") }
                let key = try string()
                skipWhitespace()
                guard peek() == UInt8(ascii: ":") else { throw failure("':' after an object key") }
                index += 1
                skipWhitespace()
                var value: [UInt8] = []
                try self.value(into: &value)
                // The key's UTF-16 code units: `key` is valid UTF-8 (checked as it was read).
                members.append((Array(String(decoding: key, as: UTF8.self).utf16), key, value, keyOffset))
                skipWhitespace()
                guard let byte = peek(), byte == UInt8(ascii: ",") || byte == UInt8(ascii: "}") else {
                    throw failure("',' or '}'")
                }
                index += 1
                if byte == UInt8(ascii: "}") { break }
            }
        }
        // RFC 8785 §3.2.3: sort by UTF-16 code units, compared as unsigned integers.
        members.sort { $0.sortKey.lexicographicallyPrecedes($1.sortKey) }
        for position in members.indices.dropFirst() where members[position].sortKey == members[position - 1].sortKey {
            // I-JSON forbids duplicate names; report the later of the two.
            throw JSONSyntaxError(expected: "object keys that are all different (duplicate key)",
                                  offset: max(members[position].offset, members[position - 1].offset))
        }
        out.append(UInt8(ascii: "{"))
        for (position, member) in members.enumerated() {
            if position > 0 { out.append(UInt8(ascii: ",")) }
            CanonicalJSON.appendString(member.key, to: &out)
            out.append(UInt8(ascii: ":"))
            out += member.value
        }
        out.append(UInt8(ascii: "}"))
        depth -= 1
    }

    private mutating func array(into out: inout [UInt8]) throws(JSONSyntaxError) {
        try enter()
        index += 1  // '['
        out.append(UInt8(ascii: "["))
        skipWhitespace()
        if peek() == UInt8(ascii: "]") {
            index += 1
        } else {
            var first = true
            while true {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                skipWhitespace()
                try value(into: &out)
                skipWhitespace()
                guard let byte = peek(), byte == UInt8(ascii: ",") || byte == UInt8(ascii: "]") else {
                    throw failure("',' or ']'")
                }
                index += 1
                if byte == UInt8(ascii: "]") { break }
            }
        }
        out.append(UInt8(ascii: "]"))
        depth -= 1
    }

    private mutating func literal(_ word: String, into out: inout [UInt8]) throws(JSONSyntaxError) {
        let start = index
        let expected = Array(word.utf8)
        for byte in expected {
            guard peek() == byte else {
                index = start
                throw failure("a JSON value")
            }
            index += 1
        }
        out += expected
    }

    /// A number (RFC 8259 grammar), read as the nearest double and written in ECMAScript form.
    private mutating func number(into out: inout [UInt8]) throws(JSONSyntaxError) {
        let start = index
        if peek() == UInt8(ascii: "-") { index += 1 }
        guard let first = peek(), isDigit(first) else { throw failure("a digit") }
        index += 1
        if first != UInt8(ascii: "0") {
            while let byte = peek(), isDigit(byte) { index += 1 }
        } else if let byte = peek(), isDigit(byte) {
            throw failure("'.', 'e' or the end of the number after a leading 0")
        }
        if peek() == UInt8(ascii: ".") {
            index += 1
            guard let byte = peek(), isDigit(byte) else { throw failure("a digit after '.'") }
            while let byte = peek(), isDigit(byte) { index += 1 }
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            index += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
            guard let byte = peek(), isDigit(byte) else { throw failure("a digit in the exponent") }
            while let byte = peek(), isDigit(byte) { index += 1 }
        }
        // The grammar above is a subset of what Double's parser (correctly rounded) accepts.
        guard let parsed = Double(String(decoding: bytes[start..<index], as: UTF8.self)), parsed.isFinite else {
            throw JSONSyntaxError(expected: "a number within the range of a double (IEEE 754)", offset: start)
        }
        out += ecmaScriptNumber(parsed)
    }

    /// A string's content, unescaped, as UTF-8 (validated).
    private mutating func string() throws(JSONSyntaxError) -> [UInt8] {
        index += 1  // '"'
        var out: [UInt8] = []
        while true {
            guard let byte = peek() else { throw failure("'\"' closing the string") }
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return out
            case UInt8(ascii: "\\"):
                index += 1
                try escape(into: &out)
            case 0x00..<0x20:
                throw failure("a control character to be escaped in a string")
            case 0x20..<0x80:
                out.append(byte)
                index += 1
            default:
                guard let length = utf8SequenceLength(at: index) else { throw failure("valid UTF-8") }
                out += bytes[index..<index + length]
                index += length
            }
        }
    }

    private mutating func escape(into out: inout [UInt8]) throws(JSONSyntaxError) {
        guard let byte = peek() else { throw failure("an escape sequence after '\\'") }
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(byte)
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "u"):
            let escapeStart = index - 1
            index += 1
            var scalar = try hex4()
            if (0xD800..<0xDC00).contains(scalar) {
                guard peek() == UInt8(ascii: "\\"), peek(1) == UInt8(ascii: "u") else {
                    throw JSONSyntaxError(expected: "a low surrogate escape after a high surrogate", offset: escapeStart)
                }
                index += 2
                let low = try hex4()
                guard (0xDC00..<0xE000).contains(low) else {
                    throw JSONSyntaxError(expected: "a low surrogate escape after a high surrogate", offset: escapeStart)
                }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00..<0xE000).contains(scalar) {
                throw JSONSyntaxError(expected: "a high surrogate escape before a low surrogate", offset: escapeStart)
            }
            // Surrogates were handled above, so this is a Unicode scalar value.
            out += UTF8.encode(Unicode.Scalar(scalar)!)!
            return
        default:
            throw failure("one of \" \\ / b f n r t u after '\\'")
        }
        index += 1
    }

    private mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            let digit: UInt8
            switch peek() {
            case let byte? where isDigit(byte): digit = byte - UInt8(ascii: "0")
            case let byte? where (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte): digit = byte - UInt8(ascii: "a") + 10
            case let byte? where (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte): digit = byte - UInt8(ascii: "A") + 10
            default: throw failure("four hexadecimal digits after '\\u'")
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    /// The length of the well-formed UTF-8 sequence (RFC 3629 table) of a non-ASCII
    /// character at `start`, or nil: overlong forms, surrogates and values above U+10FFFF
    /// are ill-formed.
    private func utf8SequenceLength(at start: Int) -> Int? {
        let lead = bytes[start]
        let length: Int
        var secondRange: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; secondRange = 0xA0...0xBF
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; secondRange = 0x80...0x9F
        case 0xF0: length = 4; secondRange = 0x90...0xBF
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; secondRange = 0x80...0x8F
        default: return nil
        }
        guard start + length <= bytes.count, secondRange.contains(bytes[start + 1]) else { return nil }
        for offset in 2..<length where !(0x80...0xBF).contains(bytes[start + offset]) { return nil }
        return length
    }

    private func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

    private func peek(_ offset: Int = 0) -> UInt8? {
        index + offset < bytes.count ? bytes[index + offset] : nil
    }

    private mutating func skipWhitespace() {
        while let byte = peek(), byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
    }

    private func failure(_ expected: String) -> JSONSyntaxError {
        JSONSyntaxError(expected: expected, offset: index)
    }
}
