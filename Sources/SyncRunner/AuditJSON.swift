import DirectoryModel

/// The audit log's line format: one JSON object per record, keys in a fixed order
/// (`time, run, side, op, directory, key, dn, attributes, outcome, code, message`), a key
/// left out when its value is nil, ending with `\n`.
///
/// ```
/// {"time":"2026-11-21T15:30:00Z","run":"9f86d081884c7d65","side":"ldap","op":"update","directory":"corp","key":"alice","dn":"uid=alice,ou=people,dc=example,dc=org","attributes":[{"name":"mail","old":["a@example.org"],"new":["alice@example.org"]},{"name":"employeeNumber","old":["<redacted>"],"new":["<redacted>"]}],"outcome":"failure","code":50,"message":"insufficient access"}
/// ```
///
/// Written by hand rather than with `JSONEncoder` so that the order is fixed, nothing is
/// allocated per key, and escaping is chosen (below).
enum AuditJSON {
    /// Appends `record` as one line, redacting as ``AuditAttribute`` describes.
    static func appendLine(_ record: AuditRecord, to output: inout [UInt8]) {
        output.append(JSONByte.openBrace)
        appendKey("time", first: true, to: &output)
        appendString(record.time.iso8601, to: &output)
        appendKey("run", to: &output)
        appendString(record.runID, to: &output)
        appendKey("side", to: &output)
        appendString(record.side.rawValue, to: &output)
        appendKey("op", to: &output)
        appendString(record.operation, to: &output)
        appendKey("directory", to: &output)
        appendString(record.directory, to: &output)
        if let key = record.key {
            appendKey("key", to: &output)
            appendString(key, to: &output)
        }
        if let dn = record.dn {
            appendKey("dn", to: &output)
            appendString(dn, to: &output)
        }
        appendKey("attributes", to: &output)
        output.append(JSONByte.openBracket)
        for (index, attribute) in record.attributes.enumerated() {
            if index > 0 { output.append(JSONByte.comma) }
            appendAttribute(attribute, to: &output)
        }
        output.append(JSONByte.closeBracket)
        appendKey("outcome", to: &output)
        appendString(record.outcome.rawValue, to: &output)
        if let code = record.resultCode {
            appendKey("code", to: &output)
            output.append(contentsOf: String(code).utf8)
        }
        if let message = record.redactedMessage {
            appendKey("message", to: &output)
            appendString(message, to: &output)
        }
        output.append(JSONByte.closeBrace)
        output.append(JSONByte.newline)
    }

    private static func appendAttribute(_ attribute: AuditAttribute, to output: inout [UInt8]) {
        let redacted = attribute.isRedacted
        output.append(JSONByte.openBrace)
        appendKey("name", first: true, to: &output)
        appendString(attribute.name, to: &output)
        if let old = attribute.old {
            appendKey("old", to: &output)
            appendValues(old, redacted: redacted, to: &output)
        }
        if let new = attribute.new {
            appendKey("new", to: &output)
            appendValues(new, redacted: redacted, to: &output)
        }
        output.append(JSONByte.closeBrace)
    }

    private static func appendValues(_ values: [String], redacted: Bool, to output: inout [UInt8]) {
        output.append(JSONByte.openBracket)
        if redacted {
            appendString(AuditAttribute.redactedValue, to: &output)
        } else {
            for (index, value) in values.enumerated() {
                if index > 0 { output.append(JSONByte.comma) }
                appendString(value, to: &output)
            }
        }
        output.append(JSONByte.closeBracket)
    }

    private static func appendKey(_ name: StaticString, first: Bool = false, to output: inout [UInt8]) {
        if !first { output.append(JSONByte.comma) }
        output.append(JSONByte.quote)
        name.withUTF8Buffer { output.append(contentsOf: $0) }
        output.append(JSONByte.quote)
        output.append(JSONByte.colon)
    }

    /// A JSON string (RFC 8259). Besides what JSON requires (`"`, `\` and U+0000–U+001F),
    /// DEL, the C1 controls U+0080–U+009F and U+2028/U+2029 are written as `\u` escapes
    /// too: a value from a directory cannot then carry a terminal escape sequence to an
    /// administrator reading the log with `cat` or `tail -f`. Everything else, non-ASCII
    /// included, is written as its UTF-8 bytes.
    static func appendString(_ text: String, to output: inout [UInt8]) {
        output.append(JSONByte.quote)
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x22: output.append(contentsOf: [JSONByte.backslash, JSONByte.quote])
            case 0x5C: output.append(contentsOf: [JSONByte.backslash, JSONByte.backslash])
            case 0x0A: output.append(contentsOf: [JSONByte.backslash, UInt8(ascii: "n")])
            case 0x0D: output.append(contentsOf: [JSONByte.backslash, UInt8(ascii: "r")])
            case 0x09: output.append(contentsOf: [JSONByte.backslash, UInt8(ascii: "t")])
            case 0x08: output.append(contentsOf: [JSONByte.backslash, UInt8(ascii: "b")])
            case 0x0C: output.append(contentsOf: [JSONByte.backslash, UInt8(ascii: "f")])
            case 0x00..<0x20, 0x7F...0x9F, 0x2028, 0x2029:
                output.append(contentsOf: [JSONByte.backslash, UInt8(ascii: "u")])
                for shift in [12, 8, 4, 0] {
                    output.append(hexDigits[Int((scalar.value >> UInt32(shift)) & 0xF)])
                }
            default:
                UTF8.encode(scalar) { output.append($0) }
            }
        }
        output.append(JSONByte.quote)
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)
}

private enum JSONByte {
    static let quote = UInt8(ascii: "\"")
    static let backslash = UInt8(ascii: "\\")
    static let comma = UInt8(ascii: ",")
    static let colon = UInt8(ascii: ":")
    static let openBrace = UInt8(ascii: "{")
    static let closeBrace = UInt8(ascii: "}")
    static let openBracket = UInt8(ascii: "[")
    static let closeBracket = UInt8(ascii: "]")
    static let newline = UInt8(ascii: "\n")
}
