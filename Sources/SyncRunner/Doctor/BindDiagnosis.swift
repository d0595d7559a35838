import LDAPClient
import SyncConfig

/// Why a bind failed, in an administrator's words: the password-policy control's error
/// (locked, expired), Active Directory's `data XXX` sub-code (SPEC §8), or the result code.
struct BindDiagnosis {
    /// After `bind: `: `invalid credentials for cn=sync,…`, `account disabled (AD data 533) for …`.
    var summary: String
    var advice: String

    init(_ failure: PasswordPolicyBindError, dn: String, source: PasswordSource, directory: DirectoryConfiguration) {
        let error = failure.error
        let password = switch source {
        case .file(let path): "the password in \(path)"
        case .environment(let name): "the password in $\(name)"
        }
        let check = "test it with: ldapwhoami -x -H \(directory.url) -D \"\(dn)\" -W"
        if let policy = failure.policy?.error {
            switch policy {
            case .accountLocked:
                summary = "account locked for \(dn)"
                advice = "the password policy locked the account, usually after failed binds: an administrator unlocks it (OpenLDAP: delete its pwdAccountLockedTime); check that \(password) is right first, or the next runs lock it again"
            case .passwordExpired:
                summary = "password expired for \(dn)"
                advice = "set a new password for the account and put it in place of \(password)"
            case .changeAfterReset:
                summary = "password must be changed for \(dn) (it was reset by an administrator)"
                advice = "change the account's password (ldappasswd) and put the new one in place of \(password)"
            default:
                summary = "\(policy) for \(dn) (password policy)"
                advice = "the server's password policy refused the bind; \(check)"
            }
            return
        }
        if let ad = error.activeDirectoryCode {
            let words = Self.activeDirectory(ad, error: error, password: password, check: check, directory: directory.name)
            summary = "\(words.phrase) for \(dn)"
            advice = words.advice
            return
        }
        switch error.code {
        case .invalidCredentials:
            summary = "invalid credentials for \(dn)"
            advice = "\(password) is not this account's password, or the DN does not exist; \(check)"
        case .inappropriateAuthentication:
            summary = "inappropriate authentication for \(dn): the account has no password the server accepts"
            advice = "give the account a userPassword, or correct the bind dn of directory \(directory.name)"
        case .confidentialityRequired, .strongerAuthRequired:
            summary = "the server requires an encrypted connection for \(dn) (\(error.code.name))"
            advice = "use ldaps:// or set startTLS: true for directory \(directory.name)"
        case .unwillingToPerform:
            summary = "the server is unwilling to perform the bind for \(dn): \(error.diagnostic ?? error.code.name)"
            advice = "the server refuses simple binds for this account or on this connection; ask its administrator what it requires"
        case .invalidDNSyntax:
            summary = "the bind DN \(dn) is not a valid DN"
            advice = "correct the bind dn of directory \(directory.name) (RFC 4514: attribute=value pairs separated by commas)"
        default:
            summary = "failed for \(dn): \(error)"
            advice = BindDiagnosis.connectionAdvice(error, directory: directory)
        }
    }

    /// An Active Directory bind sub-code in an administrator's words (SPEC §8):
    /// `account disabled (AD data 533)`, and what to do about it. `password` says where
    /// the password comes from; `check` is a command to try the bind by hand.
    static func activeDirectory(_ ad: ActiveDirectoryCode, error: LDAPError, password: String, check: String,
                                directory: String) -> (phrase: String, advice: String) {
        let code = "AD data \(ad.hex)"
        switch ad {
        case .userNotFound:
            return ("user not found (\(code))",
                    "no account has this name: correct the bind dn of directory \(directory) (Active Directory also accepts user@domain)")
        case .invalidCredentials:
            return ("invalid credentials (\(code))", "\(password) is not the account's password; \(check)")
        case .invalidLogonHours:
            return ("not permitted to log on at this time (\(code))",
                    "the account's logon hours exclude now: allow every hour for the service account")
        case .invalidWorkstation:
            return ("not permitted to log on from this workstation (\(code))",
                    "the account may log on from listed workstations only (userWorkstations): add this host or clear the list")
        case .passwordExpired:
            return ("password expired (\(code))",
                    "set a new password and put it in place of \(password); service accounts usually get \"password never expires\"")
        case .accountDisabled:
            return ("account disabled (\(code))",
                    "enable the account in Active Directory (Active Directory Users and Computers, or Enable-ADAccount)")
        case .accountExpired:
            return ("account expired (\(code))", "extend the account's expiry date (accountExpires)")
        case .mustChangePassword:
            return ("password must be changed (\(code))",
                    "set a new password without \"must change password at next logon\", and put it in place of \(password)")
        case .accountLockedOut:
            return ("account locked out (\(code))",
                    "unlock the account (Unlock-ADAccount); check that \(password) is right first, or the next runs lock it again")
        default:
            return ("bind refused (\(code)): \(error.diagnostic ?? error.code.name)",
                    "look up the sub-code data \(ad.hex) in Microsoft's LDAP bind error list; \(check)")
        }
    }

    /// What to do when the connection itself failed.
    static func connectionAdvice(_ error: LDAPError, directory: DirectoryConfiguration) -> String {
        switch error.code {
        case .serverDown, .connectError:
            "the server at \(directory.url) did not answer or the TLS handshake failed: see the network and TLS lines above, and check url, startTLS and tls of directory \(directory.name)"
        case .timeout:
            "the server did not answer within \(directory.timeout): check that it is up, or raise timeout for directory \(directory.name)"
        default:
            "the server said: \(error.diagnostic ?? error.code.name)"
        }
    }

    /// `3 days`, `5 hours`, `40 minutes`.
    static func duration(_ seconds: Int) -> String {
        if seconds >= 2 * 86_400 { return "\(seconds / 86_400) days" }
        if seconds >= 2 * 3_600 { return "\(seconds / 3_600) hours" }
        return count(max(seconds / 60, 0), "minute", "minutes")
    }
}
