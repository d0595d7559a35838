internal import CLDAP
import DirectoryModel

/// An error code of the password-policy response control
/// (draft-behera-ldap-password-policy §6.2; OpenLDAP's `ppolicy` overlay, 389 DS and
/// others send it when the bind carried the request control).
///
/// A struct with named constants: a server may send a code this list does not name.
public struct PasswordPolicyError: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// `PP_passwordExpired`
    public static let passwordExpired = Self(rawValue: 0)
    /// `PP_accountLocked`
    public static let accountLocked = Self(rawValue: 1)
    /// `PP_changeAfterReset`: the password was reset and must be changed before anything else.
    public static let changeAfterReset = Self(rawValue: 2)
    /// `PP_passwordModNotAllowed`
    public static let passwordModNotAllowed = Self(rawValue: 3)
    /// `PP_mustSupplyOldPassword`
    public static let mustSupplyOldPassword = Self(rawValue: 4)
    /// `PP_insufficientPasswordQuality`
    public static let insufficientPasswordQuality = Self(rawValue: 5)
    /// `PP_passwordTooShort`
    public static let passwordTooShort = Self(rawValue: 6)
    /// `PP_passwordTooYoung`
    public static let passwordTooYoung = Self(rawValue: 7)
    /// `PP_passwordInHistory`
    public static let passwordInHistory = Self(rawValue: 8)
    /// `PP_passwordTooLong`
    public static let passwordTooLong = Self(rawValue: 9)

    /// libldap's text for the code (`Account locked`, `Password expired`).
    public var description: String {
        String(cString: ldap_passwordpolicy_err2txt(LDAPPasswordPolicyError(rawValue: UInt32(bitPattern: rawValue))))
    }
}

/// What the password-policy response control of a bind said.
public struct PasswordPolicyResponse: Sendable, Hashable {
    /// Why the bind failed or what it must do next; nil when the server reported no error.
    public var error: PasswordPolicyError?
    /// Seconds until the password expires, when the server warns about it.
    public var secondsUntilExpiration: Int?
    /// Binds left after expiry (grace logins), when the server warns about them.
    public var graceLoginsRemaining: Int?

    public init(error: PasswordPolicyError? = nil, secondsUntilExpiration: Int? = nil, graceLoginsRemaining: Int? = nil) {
        self.error = error
        self.secondsUntilExpiration = secondsUntilExpiration
        self.graceLoginsRemaining = graceLoginsRemaining
    }
}

/// A bind that failed, with what the password-policy control said about it (nil when
/// the server sent no control: no policy, or a server that does not know the control).
public struct PasswordPolicyBindError: Error, Sendable, CustomStringConvertible {
    public var error: LDAPError
    public var policy: PasswordPolicyResponse?

    public init(error: LDAPError, policy: PasswordPolicyResponse? = nil) {
        self.error = error
        self.policy = policy
    }

    public var description: String {
        guard let problem = policy?.error else { return error.description }
        return "\(error) [password policy: \(problem)]"
    }
}

extension LDAPConnection {
    /// Simple bind carrying the password-policy request control
    /// (1.3.6.1.4.1.42.2.27.8.5.1, not critical, so servers without a password policy
    /// ignore it), and decodes the response control: a locked account then reads
    /// `accountLocked` rather than only `invalidCredentials`.
    ///
    /// Returns the response control of a successful bind (expiry warnings), nil when the
    /// server sent none. Used by `ldapsync doctor`; unlike ``bind(dn:password:)`` it does
    /// not keep the credentials for ``reconnect()``, which then reconnects unbound.
    @discardableResult
    public func bindReportingPasswordPolicy(dn: String, password: Secret) throws(PasswordPolicyBindError) -> PasswordPolicyResponse? {
        func failure(_ error: LDAPError, _ policy: PasswordPolicyResponse? = nil) -> PasswordPolicyBindError {
            PasswordPolicyBindError(error: error, policy: policy)
        }
        // An empty password would bind anonymously (RFC 4513 §5.1.2): never send one.
        guard !password.bytes.isEmpty else {
            throw failure(LDAPError(operation: "bind", dn: dn, code: .paramError, diagnostic: "empty password refused (it would bind anonymously)"))
        }
        var request: UnsafeMutablePointer<LDAPControl>?
        clearHandleDiagnostics()
        do {
            try checkSynchronous(ldap_create_passwordpolicy_control(handle, &request), operation: "bind", dn: dn)
        } catch {
            throw failure(error)
        }
        defer { ldap_control_free(request) }
        request?.pointee.ldctl_iscritical = 0

        var messageID: Int32 = 0
        clearHandleDiagnostics()
        var serverControls: [UnsafeMutablePointer<LDAPControl>?] = [request, nil]
        let rc = password.bytes.withUnsafeBytes { buffer -> Int32 in
            var credential = berval(bv_len: ber_len_t(buffer.count),
                                    bv_val: UnsafeMutablePointer(mutating: buffer.baseAddress!.assumingMemoryBound(to: CChar.self)))
            return serverControls.withUnsafeMutableBufferPointer { controls in
                ldap_sasl_bind(handle, dn, nil, &credential, controls.baseAddress, nil, &messageID)
            }
        }
        do {
            try checkSynchronous(rc, operation: "bind", dn: dn)
        } catch {
            throw failure(error)
        }
        let message: OpaquePointer
        do {
            message = try nextMessage(messageID, operation: "bind", dn: dn)
        } catch {
            throw failure(error)
        }
        defer { ldap_msgfree(message) }
        var controls: UnsafeMutablePointer<UnsafeMutablePointer<LDAPControl>?>?
        let result: OperationResult
        do {
            result = try parseResult(message, controls: &controls, operation: "bind", dn: dn)
        } catch {
            throw failure(error)
        }
        defer { ldap_controls_free(controls) }
        let policy = passwordPolicy(in: controls)
        guard result.code == .success else {
            if result.code.meansConnectionLost { markDead() }
            throw failure(LDAPError(operation: "bind", dn: dn, code: result.code,
                                    diagnostic: result.diagnostic ?? result.code.message, matchedDN: result.matchedDN), policy)
        }
        logger.debug("bound", metadata: ["ldap.dn": "\(dn)"])
        return policy
    }

    /// Decodes the password-policy response control among `controls`, if there is one.
    private func passwordPolicy(in controls: UnsafeMutablePointer<UnsafeMutablePointer<LDAPControl>?>?) -> PasswordPolicyResponse? {
        guard let controls, let control = ldap_control_find(LDAP_CONTROL_PASSWORDPOLICYRESPONSE, controls, nil) else { return nil }
        var expire: ber_int_t = -1
        var grace: ber_int_t = -1
        var error = PP_noError
        guard ldap_parse_passwordpolicy_control(handle, control, &expire, &grace, &error) == LDAP_SUCCESS else {
            logger.debug("cannot decode the password-policy response control")
            return nil
        }
        return PasswordPolicyResponse(
            error: error == PP_noError ? nil : PasswordPolicyError(rawValue: Int32(bitPattern: error.rawValue)),
            secondsUntilExpiration: expire >= 0 ? Int(expire) : nil,
            graceLoginsRemaining: grace >= 0 ? Int(grace) : nil)
    }
}
