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
            let code = "AD data \(ad.hex)"
            switch ad {
            case .userNotFound:
                summary = "user not found (\(code)) for \(dn)"
                advice = "no account has this name: correct the bind dn of directory \(directory.name) (Active Directory also accepts user@domain)"
            case .invalidCredentials:
                summary = "invalid credentials (\(code)) for \(dn)"
                advice = "\(password) is not the account's password; \(check)"
            case .invalidLogonHours:
                summary = "not permitted to log on at this time (\(code)) for \(dn)"
                advice = "the account's logon hours exclude now: allow every hour for the service account"
            case .invalidWorkstation:
                summary = "not permitted to log on from this workstation (\(code)) for \(dn)"
                advice = "the account may log on from listed workstations only (userWorkstations): add this host or clear the list"
            case .passwordExpired:
                summary = "password expired (\(code)) for \(dn)"
                advice = "set a new password and put it in place of \(password); service accounts usually get \"password never expires\""
            case .accountDisabled:
                summary = "account disabled (\(code)) for \(dn)"
                advice = "enable the account in Active Directory (Active Directory Users and Computers, or Enable-ADAccount)"
            case .accountExpired:
                summary = "account expired (\(code)) for \(dn)"
                advice = "extend the account's expiry date (accountExpires)"
            case .mustChangePassword:
                summary = "password must be changed (\(code)) for \(dn)"
                advice = "set a new password without \"must change password at next logon\", and put it in place of \(password)"
            case .accountLockedOut:
                summary = "account locked out (\(code)) for \(dn)"
                advice = "unlock the account (Unlock-ADAccount); check that \(password) is right first, or the next runs lock it again"
            default:
                summary = "bind refused (\(code)) for \(dn): \(error.diagnostic ?? error.code.name)"
                advice = "look up the sub-code data \(ad.hex) in Microsoft's LDAP bind error list; \(check)"
            }
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
