import Foundation

/// Builds LDIF text (RFC 2849) for the harness's own entries.
enum LDIF {
    /// `name: value`, or `name:: base64` when the value is not an LDIF SAFE-STRING
    /// (non-ASCII, control characters, or a leading space, colon or less-than, or a
    /// trailing space).
    static func line(_ name: String, _ value: String) -> String {
        isSafe(value) ? "\(name): \(value)\n" : "\(name):: \(Data(value.utf8).base64EncodedString())\n"
    }

    static func isSafe(_ value: String) -> Bool {
        let bytes = value.utf8
        guard let first = bytes.first else { return true }
        if first == UInt8(ascii: " ") || first == UInt8(ascii: ":") || first == UInt8(ascii: "<") { return false }
        if bytes.last == UInt8(ascii: " ") { return false }
        return bytes.allSatisfy { $0 < 0x80 && $0 != 0 && $0 != 0x0A && $0 != 0x0D }
    }

    /// Joins LDIF records with exactly one blank line between them.
    static func join(_ records: [String]) -> String {
        records
            .map { $0.trimmingCharacters(in: .newlines) }
            .filter { !$0.isEmpty }
            .joined(separator: "\n\n") + "\n"
    }
}

/// A DN's first RDN, split naively on the first unescaped `,` and `=`. Enough for the
/// harness's configured DNs (`cn=sync,ou=services,…`); multi-valued RDNs are not supported.
struct FirstRDN {
    let attribute: String
    let value: String
    let parent: String

    init(_ dn: String) throws {
        var escaped = false
        var comma: String.Index?
        for index in dn.indices {
            let character = dn[index]
            if escaped { escaped = false; continue }
            if character == "\\" { escaped = true; continue }
            if character == "," { comma = index; break }
        }
        let rdn = comma.map { String(dn[..<$0]) } ?? dn
        parent = comma.map { String(dn[dn.index(after: $0)...]).trimmingCharacters(in: .whitespaces) } ?? ""
        guard let equals = rdn.firstIndex(of: "="), !rdn.contains("+") else {
            throw SlapdError.invalidConfiguration("cannot read the first RDN of \"\(dn)\"")
        }
        attribute = rdn[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
        value = rdn[rdn.index(after: equals)...].trimmingCharacters(in: .whitespaces)
    }
}
