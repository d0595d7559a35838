/// Active Directory's `objectGUID`: 16 raw bytes, tracked as they are (the id of SPEC I6),
/// and shown the way AD's own tools show them.
///
/// The bytes are a Windows `GUID` structure in memory: `Data1` (32 bits), `Data2` and
/// `Data3` (16 bits each) little-endian, then `Data4` (8 bytes) in order. The string form
/// prints those fields as numbers, so the first three fields' bytes appear reversed:
/// the bytes `33 22 11 00 55 44 77 66 88 99 aa bb cc dd ee ff` are
/// `00112233-4455-6677-8899-aabbccddeeff`. This is the form of PowerShell's
/// `Get-ADUser`, `ldbsearch`, `samba-tool` and of the `<GUID=...>` DN syntax, without
/// braces and in lower case.
public struct ObjectGUID: Hashable, Sendable, CustomStringConvertible {
    /// The 16 bytes as the server sends them.
    public let bytes: [UInt8]

    /// nil unless `bytes` holds exactly 16 bytes.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// Parses the string form, with or without braces, either case
    /// (`00112233-4455-6677-8899-aabbccddeeff`, `{00112233-4455-...}`); nil for anything else.
    public init?(_ text: String) {
        var digits = Array(text.utf8)
        if digits.first == UInt8(ascii: "{") {
            guard digits.last == UInt8(ascii: "}") else { return nil }
            digits = Array(digits.dropFirst().dropLast())
        }
        guard digits.count == 36 else { return nil }
        var value: [UInt8] = []
        value.reserveCapacity(16)
        var index = 0
        for (position, length) in Self.groups.enumerated() {
            if position > 0 {
                guard digits[index] == UInt8(ascii: "-") else { return nil }
                index += 1
            }
            for _ in 0..<length {
                guard let high = ASCII.hexValue(digits[index]), let low = ASCII.hexValue(digits[index + 1]) else { return nil }
                value.append(high << 4 | low)
                index += 2
            }
        }
        // The text shows Data1, Data2 and Data3 as numbers: put them back little-endian.
        value[0..<4].reverse()
        value[4..<6].reverse()
        value[6..<8].reverse()
        self.bytes = value
    }

    /// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, lower case, no braces.
    public var description: String {
        let ordered = Array(bytes[0..<4].reversed()) + Array(bytes[4..<6].reversed()) + Array(bytes[6..<8].reversed())
            + Array(bytes[8..<16])
        var text = ""
        text.reserveCapacity(36)
        var index = 0
        for (position, length) in Self.groups.enumerated() {
            if position > 0 { text += "-" }
            for _ in 0..<length {
                let byte = ordered[index]
                text += byte < 0x10 ? "0" + String(byte, radix: 16) : String(byte, radix: 16)
                index += 1
            }
        }
        return text
    }

    /// Bytes per dash-separated group of the string form.
    private static let groups = [4, 2, 2, 2, 6]
}

/// How an entry's id is shown to a person (output, audit log, status, conflicts, errors):
/// an `objectGUID` in its GUID string form, a text id (`entryUUID`, `nsUniqueId`) as its
/// text, and anything else as lower-case hex (never decoded as text with replacements).
public enum EntryIDDisplay {
    public static func text(_ id: [UInt8], attribute: AttributeName) -> String {
        if attribute == "objectGUID", let guid = ObjectGUID(bytes: id) { return guid.description }
        if let text = UTF8Text.string(id), !text.isEmpty,
           !text.utf8.contains(where: { ASCII.isControl($0) }) {
            return text
        }
        return id.map { $0 < 0x10 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }
}
