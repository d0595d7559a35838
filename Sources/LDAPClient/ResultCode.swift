internal import CLDAP

/// An LDAP result code (RFC 4511 §4.1.9), or one of libldap's negative client-side codes.
///
/// A struct with named constants rather than a closed enum: servers return codes this
/// list does not name, and those must survive intact.
public struct LDAPResultCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// `LDAP_SUCCESS`
    public static let success = Self(rawValue: 0)
    /// `LDAP_OPERATIONS_ERROR`
    public static let operationsError = Self(rawValue: 1)
    /// `LDAP_PROTOCOL_ERROR`
    public static let protocolError = Self(rawValue: 2)
    /// `LDAP_TIMELIMIT_EXCEEDED`
    public static let timeLimitExceeded = Self(rawValue: 3)
    /// `LDAP_SIZELIMIT_EXCEEDED`
    public static let sizeLimitExceeded = Self(rawValue: 4)
    /// `LDAP_COMPARE_FALSE`
    public static let compareFalse = Self(rawValue: 5)
    /// `LDAP_COMPARE_TRUE`
    public static let compareTrue = Self(rawValue: 6)
    /// `LDAP_AUTH_METHOD_NOT_SUPPORTED`
    public static let authMethodNotSupported = Self(rawValue: 7)
    /// `LDAP_STRONG_AUTH_REQUIRED`
    public static let strongerAuthRequired = Self(rawValue: 8)
    /// `LDAP_REFERRAL`
    public static let referral = Self(rawValue: 10)
    /// `LDAP_ADMINLIMIT_EXCEEDED`
    public static let adminLimitExceeded = Self(rawValue: 11)
    /// `LDAP_UNAVAILABLE_CRITICAL_EXTENSION`
    public static let unavailableCriticalExtension = Self(rawValue: 12)
    /// `LDAP_CONFIDENTIALITY_REQUIRED`
    public static let confidentialityRequired = Self(rawValue: 13)
    /// `LDAP_SASL_BIND_IN_PROGRESS`
    public static let saslBindInProgress = Self(rawValue: 14)
    /// `LDAP_NO_SUCH_ATTRIBUTE`
    public static let noSuchAttribute = Self(rawValue: 16)
    /// `LDAP_UNDEFINED_TYPE`
    public static let undefinedAttributeType = Self(rawValue: 17)
    /// `LDAP_INAPPROPRIATE_MATCHING`
    public static let inappropriateMatching = Self(rawValue: 18)
    /// `LDAP_CONSTRAINT_VIOLATION`
    public static let constraintViolation = Self(rawValue: 19)
    /// `LDAP_TYPE_OR_VALUE_EXISTS`
    public static let attributeOrValueExists = Self(rawValue: 20)
    /// `LDAP_INVALID_SYNTAX`
    public static let invalidAttributeSyntax = Self(rawValue: 21)
    /// `LDAP_NO_SUCH_OBJECT`
    public static let noSuchObject = Self(rawValue: 32)
    /// `LDAP_ALIAS_PROBLEM`
    public static let aliasProblem = Self(rawValue: 33)
    /// `LDAP_INVALID_DN_SYNTAX`
    public static let invalidDNSyntax = Self(rawValue: 34)
    /// `LDAP_ALIAS_DEREF_PROBLEM`
    public static let aliasDereferencingProblem = Self(rawValue: 36)
    /// `LDAP_INAPPROPRIATE_AUTH`
    public static let inappropriateAuthentication = Self(rawValue: 48)
    /// `LDAP_INVALID_CREDENTIALS`
    public static let invalidCredentials = Self(rawValue: 49)
    /// `LDAP_INSUFFICIENT_ACCESS`
    public static let insufficientAccessRights = Self(rawValue: 50)
    /// `LDAP_BUSY`
    public static let busy = Self(rawValue: 51)
    /// `LDAP_UNAVAILABLE`
    public static let unavailable = Self(rawValue: 52)
    /// `LDAP_UNWILLING_TO_PERFORM`
    public static let unwillingToPerform = Self(rawValue: 53)
    /// `LDAP_LOOP_DETECT`
    public static let loopDetect = Self(rawValue: 54)
    /// `LDAP_NAMING_VIOLATION`
    public static let namingViolation = Self(rawValue: 64)
    /// `LDAP_OBJECT_CLASS_VIOLATION`
    public static let objectClassViolation = Self(rawValue: 65)
    /// `LDAP_NOT_ALLOWED_ON_NONLEAF`
    public static let notAllowedOnNonLeaf = Self(rawValue: 66)
    /// `LDAP_NOT_ALLOWED_ON_RDN`
    public static let notAllowedOnRDN = Self(rawValue: 67)
    /// `LDAP_ALREADY_EXISTS`
    public static let entryAlreadyExists = Self(rawValue: 68)
    /// `LDAP_NO_OBJECT_CLASS_MODS`
    public static let objectClassModsProhibited = Self(rawValue: 69)
    /// `LDAP_AFFECTS_MULTIPLE_DSAS`
    public static let affectsMultipleDSAs = Self(rawValue: 71)
    /// `LDAP_OTHER`
    public static let other = Self(rawValue: 80)

    // libldap's client-side codes (negative; never sent by a server).

    /// `LDAP_SERVER_DOWN`: the connection is gone (refused, reset, closed by the server).
    public static let serverDown = Self(rawValue: -1)
    /// `LDAP_LOCAL_ERROR`
    public static let localError = Self(rawValue: -2)
    /// `LDAP_ENCODING_ERROR`
    public static let encodingError = Self(rawValue: -3)
    /// `LDAP_DECODING_ERROR`
    public static let decodingError = Self(rawValue: -4)
    /// `LDAP_TIMEOUT`: no answer within the operation timeout.
    public static let timeout = Self(rawValue: -5)
    /// `LDAP_AUTH_UNKNOWN`
    public static let authUnknown = Self(rawValue: -6)
    /// `LDAP_FILTER_ERROR`
    public static let filterError = Self(rawValue: -7)
    /// `LDAP_USER_CANCELLED`
    public static let userCancelled = Self(rawValue: -8)
    /// `LDAP_PARAM_ERROR`
    public static let paramError = Self(rawValue: -9)
    /// `LDAP_NO_MEMORY`
    public static let noMemory = Self(rawValue: -10)
    /// `LDAP_CONNECT_ERROR`: the TCP or TLS connection could not be made (TLS
    /// verification failures land here).
    public static let connectError = Self(rawValue: -11)
    /// `LDAP_NOT_SUPPORTED`
    public static let notSupported = Self(rawValue: -12)
    /// `LDAP_CONTROL_NOT_FOUND`: an expected response control was missing.
    public static let controlNotFound = Self(rawValue: -13)
    /// `LDAP_NO_RESULTS_RETURNED`
    public static let noResultsReturned = Self(rawValue: -14)
    /// `LDAP_MORE_RESULTS_TO_RETURN`
    public static let moreResultsToReturn = Self(rawValue: -15)
    /// `LDAP_CLIENT_LOOP`
    public static let clientLoop = Self(rawValue: -16)
    /// `LDAP_REFERRAL_LIMIT_EXCEEDED`
    public static let referralLimitExceeded = Self(rawValue: -17)

    private static let names: [Int32: String] = [
        0: "success", 1: "operationsError", 2: "protocolError", 3: "timeLimitExceeded",
        4: "sizeLimitExceeded", 5: "compareFalse", 6: "compareTrue", 7: "authMethodNotSupported",
        8: "strongerAuthRequired", 10: "referral", 11: "adminLimitExceeded",
        12: "unavailableCriticalExtension", 13: "confidentialityRequired", 14: "saslBindInProgress",
        16: "noSuchAttribute", 17: "undefinedAttributeType", 18: "inappropriateMatching",
        19: "constraintViolation", 20: "attributeOrValueExists", 21: "invalidAttributeSyntax",
        32: "noSuchObject", 33: "aliasProblem", 34: "invalidDNSyntax", 36: "aliasDereferencingProblem",
        48: "inappropriateAuthentication", 49: "invalidCredentials", 50: "insufficientAccessRights",
        51: "busy", 52: "unavailable", 53: "unwillingToPerform", 54: "loopDetect",
        64: "namingViolation", 65: "objectClassViolation", 66: "notAllowedOnNonLeaf",
        67: "notAllowedOnRDN", 68: "entryAlreadyExists", 69: "objectClassModsProhibited",
        71: "affectsMultipleDSAs", 80: "other", 4096: "e-syncRefreshRequired",
        -1: "serverDown", -2: "localError", -3: "encodingError", -4: "decodingError", -5: "timeout",
        -6: "authUnknown", -7: "filterError", -8: "userCancelled", -9: "paramError", -10: "noMemory",
        -11: "connectError", -12: "notSupported", -13: "controlNotFound", -14: "noResultsReturned",
        -15: "moreResultsToReturn", -16: "clientLoop", -17: "referralLimitExceeded",
    ]

    /// The RFC 4511 name (`invalidCredentials`), or `code N` for codes this list lacks.
    public var name: String { Self.names[rawValue] ?? "code \(rawValue)" }

    /// libldap's text for the code (`Invalid credentials`).
    public var message: String { String(cString: ldap_err2string(rawValue)) }

    /// `invalidCredentials (49)`.
    public var description: String { "\(name) (\(rawValue))" }

    /// The connection is unusable after this code: the handle must be rebuilt and rebound.
    public var meansConnectionLost: Bool { self == .serverDown || self == .connectError }
}
