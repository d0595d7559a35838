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
        // Most values are plain: written as their bytes, without decoding scalars.
        let plain = text.utf8.withContiguousStorageIfAvailable { bytes -> Bool in
            guard isPlain(bytes) else { return false }
            output.append(JSONByte.quote)
            output.append(contentsOf: bytes)
            output.append(JSONByte.quote)
            return true
        }
        if plain == true { return }
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

    /// Whether valid UTF-8 `bytes` need no escape: no `"`, `\`, control characters
    /// (U+0000–U+001F, DEL), and no lead byte of the escaped U+0080–U+009F (`C2`) or
    /// U+2028/U+2029 (`E2`); the caller escapes them scalar by scalar then.
    static func isPlain(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        for byte in bytes {
            if byte >= 0x20 && byte < 0x7F {
                if byte == 0x22 || byte == 0x5C { return false }
            } else if byte < 0x80 || byte == 0xC2 || byte == 0xE2 {
                return false
            }
        }
        return true
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)
}

enum JSONByte {
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

/// The audit lines of one run's app changes (`side: app`), written as bytes straight into
/// the log's buffer: the same lines as `AuditJSON.appendLine` writes for the
/// ``AuditRecord`` that `DirectoryRun.auditAppChanges` describes, without building the
/// record, its attribute arrays and display strings for each of a full run's changes.
///
/// It takes the lines without a message: a line with one (a failed transaction, a
/// recovery) redacts values from it, and goes through ``AuditRecord``.
struct AppChangeLines {
    /// A mapped column as the lines show it.
    struct Column {
        let name: String
        /// Sensitive, or a name that says password or secret: written as `<redacted>`.
        let redacted: Bool
        /// Its text is shown as is (multi-valued), not as a quoted Swift literal.
        let showsTextAsIs: Bool
        /// The value as `ValueMapping.display` shows it, for what is not plain text.
        let display: (AppValue) -> String
    }

    /// Sorted by name as `String` sorts (the order of `AuditRecord`'s attributes).
    private let columns: [Column]
    /// `{"time":"…","run":"…","side":"app","op":"`, for the current time.
    private var head: [UInt8] = []
    private let runID: String
    /// `,"directory":"…","key":`
    private let directoryAndKey: [UInt8]
    /// `],"outcome":"…"}\n`
    private let tail: [UInt8]

    /// `columns` must be unique by name.
    init(runID: String, directory: String, outcome: AuditRecord.Outcome, columns: [Column]) {
        self.columns = columns.sorted { $0.name < $1.name }
        self.runID = runID
        var bytes: [UInt8] = []
        bytes.append(contentsOf: #"","directory":"#.utf8)
        AuditJSON.appendString(directory, to: &bytes)
        bytes.append(contentsOf: #","key":"#.utf8)
        directoryAndKey = bytes
        bytes = Array(#"],"outcome":"#.utf8)
        AuditJSON.appendString(outcome.rawValue, to: &bytes)
        bytes.append(contentsOf: "}\n".utf8)
        tail = bytes
    }

    /// The time of the lines appended next.
    mutating func setTime(_ time: Timestamp) {
        head.removeAll(keepingCapacity: true)
        head.append(contentsOf: #"{"time":"#.utf8)
        AuditJSON.appendString(time.iso8601, to: &head)
        head.append(contentsOf: #","run":"#.utf8)
        AuditJSON.appendString(runID, to: &head)
        head.append(contentsOf: #","side":"app","op":""#.utf8)
    }

    /// Appends the line of `change`; false (nothing appended) when one of its values is
    /// in no mapped column, which `AuditRecord` shows in its own way.
    func append(_ change: AppChange, to output: inout [UInt8]) -> Bool {
        switch change {
        case .create(let user):
            let mark = output.count
            start("create", key: user.key, to: &output)
            guard appendValues(user.values, to: &output) else {
                output.removeSubrange(mark...)
                return false
            }
        case .update(let key, let values):
            let mark = output.count
            start("update", key: key, to: &output)
            guard appendValues(values, to: &output) else {
                output.removeSubrange(mark...)
                return false
            }
        case .setManaged(let key, let managed):
            start(managed ? "tag" : "untag", key: key, to: &output)
        case .setActive(let key, let active):
            start(active ? "activate" : "deactivate", key: key, to: &output)
        case .rename(let from, let to):
            start("rename", key: to, to: &output)
            output.append(contentsOf: #"{"name":"key","old":["#.utf8)
            AuditJSON.appendString(from, to: &output)
            output.append(contentsOf: #"],"new":["#.utf8)
            AuditJSON.appendString(to, to: &output)
            output.append(contentsOf: "]}".utf8)
        case .addMembership(let user, let group):
            start("addMembership", key: user, to: &output)
            output.append(contentsOf: #"{"name":"group","new":["#.utf8)
            AuditJSON.appendString(group, to: &output)
            output.append(contentsOf: "]}".utf8)
        case .removeMembership(let user, let group):
            start("removeMembership", key: user, to: &output)
            output.append(contentsOf: #"{"name":"group","old":["#.utf8)
            AuditJSON.appendString(group, to: &output)
            output.append(contentsOf: "]}".utf8)
        }
        output.append(contentsOf: tail)
        return true
    }

    /// Up to the opening bracket of the attributes.
    private func start(_ operation: StaticString, key: String, to output: inout [UInt8]) {
        output.append(contentsOf: head)
        operation.withUTF8Buffer { output.append(contentsOf: $0) }
        output.append(contentsOf: directoryAndKey)
        AuditJSON.appendString(key, to: &output)
        output.append(contentsOf: #","attributes":["#.utf8)
    }

    /// Appends the values' attributes; false when one of them is in no mapped column.
    private func appendValues(_ values: [String: AppValue], to output: inout [UInt8]) -> Bool {
        var found = 0
        for column in columns {
            guard let value = values[column.name] else { continue }
            if found > 0 { output.append(JSONByte.comma) }
            found += 1
            output.append(contentsOf: #"{"name":"#.utf8)
            AuditJSON.appendString(column.name, to: &output)
            output.append(contentsOf: #","new":["#.utf8)
            if column.redacted {
                AuditJSON.appendString(AuditAttribute.redactedValue, to: &output)
            } else {
                switch value {
                case .text(let text):
                    if column.showsTextAsIs {
                        AuditJSON.appendString(text, to: &output)
                    } else if !Self.appendQuotedLiteral(text, to: &output) {
                        AuditJSON.appendString(column.display(value), to: &output)
                    }
                // As `ValueMapping.display` shows them (AppChangeLinesTests compares).
                case .null:
                    output.append(contentsOf: #""(none)""#.utf8)
                case .integer(let number):
                    output.append(JSONByte.quote)
                    output.append(contentsOf: String(number).utf8)
                    output.append(JSONByte.quote)
                case .blob:
                    AuditJSON.appendString(column.display(value), to: &output)
                }
            }
            output.append(contentsOf: "]}".utf8)
        }
        return found == values.count
    }

    /// `text.debugDescription` as a JSON string, for printable ASCII without `"` and `\\`
    /// (whose Swift literal is the text in quotes); false, nothing appended, otherwise.
    private static func appendQuotedLiteral(_ text: String, to output: inout [UInt8]) -> Bool {
        text.utf8.withContiguousStorageIfAvailable { bytes -> Bool in
            for byte in bytes where byte < 0x20 || byte >= 0x7F || byte == 0x22 || byte == 0x5C { return false }
            output.append(contentsOf: #""\""#.utf8)
            output.append(contentsOf: bytes)
            output.append(contentsOf: #"\"""#.utf8)
            return true
        } ?? false
    }
}
