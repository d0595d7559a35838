import LDAPClient
import Testing
@testable import SyncRunner

/// `ldapsync run` names an Active Directory bind failure by its `data XXX` sub-code
/// (SPEC §8), in the same words as the doctor, and keeps the server's own message.
@Suite struct RunBindErrorTests {
    static func adBindError(_ data: String) -> LDAPError {
        LDAPError(operation: "bind", dn: "CN=sync,CN=Users,DC=example,DC=com", code: .invalidCredentials,
                  diagnostic: "80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext error, data \(data), v4563")
    }

    @Test(arguments: [
        ("525", "user not found (AD data 525)"),
        ("52e", "invalid credentials (AD data 52e)"),
        ("530", "not permitted to log on at this time (AD data 530)"),
        ("531", "not permitted to log on from this workstation (AD data 531)"),
        ("532", "password expired (AD data 532)"),
        ("533", "account disabled (AD data 533)"),
        ("701", "account expired (AD data 701)"),
        ("773", "password must be changed (AD data 773)"),
        ("775", "account locked out (AD data 775)"),
    ])
    func runErrorNamesTheSubCode(data: String, words: String) {
        let error = RunError.connection(directory: "corp", url: "ldaps://dc1.example.com", Self.adBindError(data))
        let text = error.description
        #expect(text.contains("bind as \"CN=sync,CN=Users,DC=example,DC=com\" failed: \(words): "), "\(text)")
        #expect(text.contains("the server said: invalidCredentials (49): 80090308"), "\(text)")
        #expect(text.hasSuffix("nothing was written and the cursor was not moved"))
        #expect(error.exitCode == 3)
    }

    @Test func disabledAccountAdviceSaysToEnableIt() {
        let text = RunError.connection(directory: "corp", url: "ldaps://dc1", Self.adBindError("533")).description
        #expect(text.contains("enable the account in Active Directory"), "\(text)")
    }

    @Test func otherErrorsAreShownAsTheyAre() {
        let error = LDAPError(operation: "bind", dn: "cn=sync,dc=example,dc=com", code: .invalidCredentials)
        let text = RunError.connection(directory: "corp", url: "ldap://localhost", error).description
        #expect(text == "directory corp (ldap://localhost): \(error); nothing was written and the cursor was not moved")
    }
}
