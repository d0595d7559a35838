import DirectoryModel

/// A value that cannot be carried to the app as mapped: reported for its entry.
public struct ValueError: Error, Sendable, Hashable, CustomStringConvertible {
    public var attribute: AttributeName
    public var message: String
    public var description: String { "attribute \(attribute): \(message)" }
}

/// Conversions between LDAP values (bytes) and app column values, and comparison by the
/// attribute's equality rule.
public enum ValueMapping {
    /// The app value for an attribute's LDAP values (nil or empty: NULL).
    public static func appValue(_ values: [[UInt8]]?, for attribute: MappedAttribute) throws(ValueError) -> AppValue {
        if let transform = attribute.transform {
            let value: AppValue
            do {
                value = try Transforms.appValue(fromLDAP: values ?? [], transform: transform, multiValued: attribute.kind == .multiText)
            } catch {
                throw ValueError(attribute: attribute.ldap, message: "\(transform) transform: \(error)")
            }
            if case .text(let text) = value { try checkNoNUL(Array(text.utf8), attribute) }
            return value
        }
        guard let values, let first = values.first else { return .null }
        switch attribute.kind {
        case .binary:
            return .blob(first)
        case .text:
            try checkNoNUL(first, attribute)
            return .text(try text(first, attribute))
        case .multiText:
            var strings: [String] = []
            strings.reserveCapacity(values.count)
            for value in values { strings.append(try text(value, attribute)) }
            return .text(JSONStringArray.encode(strings))
        }
    }

    /// A text column cannot hold a NUL: SQLite text passed as a C string (GRDB) ends at
    /// the first one, and PostgreSQL text refuses it. A JSON array escapes it (`\u0000`).
    private static func checkNoNUL(_ value: [UInt8], _ attribute: MappedAttribute) throws(ValueError) {
        guard let offset = value.firstIndex(of: 0) else { return }
        throw ValueError(attribute: attribute.ldap,
                         message: "a value holds a NUL byte (at byte \(offset) of \(value.count)), which a text column cannot store; map it with binary: true or multiValued: true")
    }

    private static func text(_ value: [UInt8], _ attribute: MappedAttribute) throws(ValueError) -> String {
        guard let text = UTF8Text.string(value) else {
            throw ValueError(attribute: attribute.ldap,
                             message: "a value is not valid UTF-8 text (\(value.count) bytes); map it with binary: true if it is binary data")
        }
        return text
    }

    /// The LDAP values an app column value stands for: the inverse of
    /// ``appValue(_:for:)`` (NULL and empty text: no values).
    public static func ldapValues(_ value: AppValue, for attribute: MappedAttribute) throws(ValueError) -> [[UInt8]] {
        if let transform = attribute.transform {
            do {
                return try Transforms.ldapValues(fromApp: value, transform: transform, multiValued: attribute.kind == .multiText)
            } catch {
                throw ValueError(attribute: attribute.ldap, message: "\(transform) transform: \(error)")
            }
        }
        switch value {
        case .null: return []
        case .blob(let bytes): return [bytes]
        case .integer(let number): return [Array(String(number).utf8)]
        case .text(let text):
            guard attribute.kind == .multiText else { return text.isEmpty ? [] : [Array(text.utf8)] }
            do {
                return try JSONStringArray.decode(text).map { Array($0.utf8) }
            } catch {
                throw ValueError(attribute: attribute.ldap, message: "the app column \(attribute.column) is \(error)")
            }
        }
    }

    /// Whether the app holds `want` already, by the attribute's equality rule: text
    /// case-insensitively for caseIgnore attributes, JSON arrays as sets, bytes exactly.
    public static func appValue(_ have: AppValue, matches want: AppValue, for attribute: MappedAttribute) -> Bool {
        switch (have, want) {
        case (.null, .null): return true
        case (.text(let a), .text(let b)):
            switch attribute.kind {
            case .multiText:
                if attribute.transform != nil {
                    // Compare what the values stand for in LDAP (canonical JSON objects, ...).
                    guard let left = try? ldapValues(have, for: attribute), let right = try? ldapValues(want, for: attribute) else { return a == b }
                    return Set(left) == Set(right)
                }
                guard let left = try? JSONStringArray.decode(a), let right = try? JSONStringArray.decode(b) else { return a == b }
                return Set(left.map { fold($0, attribute) }) == Set(right.map { fold($0, attribute) })
            case .text, .binary:
                return fold(a, attribute) == fold(b, attribute)
            }
        case (.text(let a), .null), (.null, .text(let a)):
            // An empty JSON array and NULL both mean "no values".
            return attribute.kind == .multiText && (try? JSONStringArray.decode(a)) == []
        default:
            return have == want
        }
    }

    /// Whether two LDAP value lists are the same attribute state (sets of values, by the
    /// equality rule; absent equals empty).
    public static func sameValues(_ a: [[UInt8]]?, _ b: [[UInt8]]?, for attribute: MappedAttribute) -> Bool {
        let left = a ?? [], right = b ?? []
        if left == right { return true }
        guard attribute.caseInsensitive, attribute.kind != .binary else { return Set(left) == Set(right) }
        return Set(left.map { foldBytes($0) }) == Set(right.map { foldBytes($0) })
    }

    private static func fold(_ text: String, _ attribute: MappedAttribute) -> String {
        attribute.caseInsensitive ? text.lowercased() : text
    }

    private static func foldBytes(_ value: [UInt8]) -> [UInt8] {
        guard let text = UTF8Text.string(value) else { return value }
        return Array(text.lowercased().utf8)
    }

    /// How a value is shown in a plan: quoted text, a byte count for binary values, and
    /// `<redacted>` for sensitive attributes.
    public static func display(_ value: AppValue, for attribute: MappedAttribute) -> String {
        if attribute.sensitive { return value == .null ? "(none)" : "<redacted>" }
        switch value {
        case .null: return "(none)"
        case .text(let text): return attribute.kind == .multiText ? text : text.debugDescription
        case .integer(let number): return String(number)
        case .blob(let bytes): return "<\(bytes.count) bytes>"
        }
    }
}
