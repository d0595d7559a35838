/// A failed LDAP operation: what was attempted, on which entry, and everything the server
/// said about it.
///
/// The description names the operation, the DN, the result code and the server's
/// diagnostic. It never contains attribute values or credentials.
public struct LDAPError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The operation: `connect`, `bind`, `startTLS`, `search`, `add`, `delete`, `modify`,
    /// `rename`, `result`, `set option`.
    public var operation: String
    /// The entry the operation was about (the bind DN, the search base, the modified DN).
    public var dn: String?
    public var code: LDAPResultCode
    /// The server's diagnostic message (`additional info` in ldapsearch), or libldap's.
    public var diagnostic: String?
    /// The matched DN the server returned with `noSuchObject`.
    public var matchedDN: String?

    public init(operation: String, dn: String? = nil, code: LDAPResultCode, diagnostic: String? = nil, matchedDN: String? = nil) {
        self.operation = operation
        self.dn = dn
        self.code = code
        self.diagnostic = diagnostic.flatMap { $0.isEmpty ? nil : $0 }
        self.matchedDN = matchedDN.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The Active Directory sub-code in a bind diagnostic (`... data 52e, v4563`).
    public var activeDirectoryCode: ActiveDirectoryCode? { diagnostic.flatMap(ActiveDirectoryCode.init(diagnostic:)) }

    public var description: String {
        var text = "LDAP \(operation)"
        if let dn { text += " \"\(dn)\"" }
        text += " failed: \(code.name) (\(code.rawValue))"
        if let diagnostic { text += ": \(diagnostic)" }
        if let ad = activeDirectoryCode { text += " [AD: \(ad.meaning)]" }
        if let matchedDN { text += " (matched DN \"\(matchedDN)\")" }
        return text
    }
}

/// The `data XXX` sub-code Active Directory puts in the diagnostic of a failed bind
/// (`80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 52e, v4563`).
public struct ActiveDirectoryCode: RawRepresentable, Hashable, Sendable {
    /// The hexadecimal sub-code as a number (`0x52e`).
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `525`: user not found.
    public static let userNotFound = Self(rawValue: 0x525)
    /// `52e`: invalid credentials (wrong password).
    public static let invalidCredentials = Self(rawValue: 0x52e)
    /// `530`: not permitted to log on at this time.
    public static let invalidLogonHours = Self(rawValue: 0x530)
    /// `531`: not permitted to log on from this workstation.
    public static let invalidWorkstation = Self(rawValue: 0x531)
    /// `532`: password expired.
    public static let passwordExpired = Self(rawValue: 0x532)
    /// `533`: account disabled.
    public static let accountDisabled = Self(rawValue: 0x533)
    /// `701`: account expired.
    public static let accountExpired = Self(rawValue: 0x701)
    /// `773`: the user must change the password before logging on.
    public static let mustChangePassword = Self(rawValue: 0x773)
    /// `775`: account locked out.
    public static let accountLockedOut = Self(rawValue: 0x775)

    /// Finds `data XXX` (hex digits) in an AD diagnostic; nil when there is none.
    public init?(diagnostic: String) {
        let bytes = Array(diagnostic.utf8)
        let marker = Array("data ".utf8)
        guard bytes.count > marker.count else { return nil }
        for start in 0...(bytes.count - marker.count) where Array(bytes[start..<start + marker.count]) == marker {
            var value: UInt32 = 0
            var digits = 0
            for byte in bytes[(start + marker.count)...] {
                guard let digit = Self.hexDigit(byte), digits < 8 else { break }
                value = value << 4 | digit
                digits += 1
            }
            if digits > 0 {
                self.init(rawValue: value)
                return
            }
        }
        return nil
    }

    private static func hexDigit(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    /// The sub-code as AD writes it (`52e`).
    public var hex: String { String(rawValue, radix: 16) }

    /// What the sub-code means, for an administrator.
    public var meaning: String {
        switch self {
        case .userNotFound: "user not found (data 525)"
        case .invalidCredentials: "invalid credentials (data 52e)"
        case .invalidLogonHours: "not permitted to log on at this time (data 530)"
        case .invalidWorkstation: "not permitted to log on from this workstation (data 531)"
        case .passwordExpired: "password expired (data 532)"
        case .accountDisabled: "account disabled (data 533)"
        case .accountExpired: "account expired (data 701)"
        case .mustChangePassword: "user must change password (data 773)"
        case .accountLockedOut: "account locked out (data 775)"
        default: "sub-code data \(hex)"
        }
    }
}
