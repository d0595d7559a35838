/// Helpers for LDAP URLs (RFC 4516).
public enum LDAPURL {
    /// An `ldapi://` URL for a Unix socket path, percent-encoded as libldap expects
    /// (`/run/slapd/ldapi` → `ldapi://%2Frun%2Fslapd%2Fldapi`).
    public static func ldapi(socketPath: String) -> String {
        var encoded = "ldapi://"
        for byte in socketPath.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                encoded.append(Character(UnicodeScalar(byte)))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                encoded += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return encoded
    }

    /// Whether the URL's host is a loopback address or an ldapi socket, where a simple
    /// bind without TLS exposes no password on a network.
    public static func isLocal(_ url: String) -> Bool {
        let lower = url.lowercased()
        if lower.hasPrefix("ldapi:") { return true }
        let parts = lower.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count >= 3, parts[0].hasSuffix(":"), parts[1].isEmpty else { return false }
        var host = parts[2]
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
            return host[host.index(after: host.startIndex)..<close] == "::1"
        }
        if let colon = host.lastIndex(of: ":") { host = host[..<colon] }
        return host == "localhost" || (host.hasPrefix("127.") && host.allSatisfy { $0.isNumber || $0 == "." })
    }
}
