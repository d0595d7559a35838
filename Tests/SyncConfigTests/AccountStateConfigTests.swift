import Testing
@testable import SyncConfig

/// `users.accountState` of a directory: off by default, Active Directory only, and never
/// together with a mapping of userAccountControl.
@Suite struct AccountStateConfigTests {
    /// An AD directory whose users section ends at line 8; `lines` follow it.
    private func adDirectory(_ lines: String) -> String {
        minimalYAML.replacingOccurrences(of: "    url: ldaps://", with: "    type: ad\n    url: ldaps://") + lines + "\n"
    }

    @Test func accountStateIsOffByDefault() throws {
        let configuration = try load(adDirectory(""))
        #expect(configuration.directories[0].users.accountState == .off)
    }

    @Test(arguments: [("from-ldap", AccountStateMode.fromLDAP), ("both", .both), ("off", .off)])
    func acceptsEachModeForActiveDirectory(text: String, mode: AccountStateMode) throws {
        let configuration = try load(adDirectory("      accountState: \(text)"))
        #expect(configuration.directories[0].users.accountState == mode)
    }

    @Test func refusesAccountStateOutsideActiveDirectory() {
        ErrorCase("accountState on openldap", minimalYAML + "      accountState: from-ldap\n", line: 8,
                  "directories[0].users.accountState", "it needs type: ad").check()
    }

    @Test func refusesAnUnknownMode() {
        guard let error = loadError(adDirectory("      accountState: yes")) else { return }
        #expect(error.keyPath == "directories[0].users.accountState")
        #expect(error.message.contains("expected one of off, from-ldap, both"), "\(error)")
    }

    @Test func refusesUserAccountControlMappedAsWellAsAccountState() {
        let yaml = adDirectory("      accountState: both") + "attributes:\n  - { ldap: mail, app: email }\n  - { ldap: userAccountControl, app: uac }\n"
        guard let error = loadError(yaml) else { return }
        #expect(error.keyPath == "attributes[1].ldap")
        #expect(error.line == 12)
        #expect(error.message.contains("users.accountState of directory corp"), "\(error)")
    }

    @Test func userAccountControlMayBeMappedWhenAccountStateIsOff() throws {
        let configuration = try load(adDirectory("") + "attributes:\n  - { ldap: userAccountControl, app: uac }\n")
        #expect(configuration.attributes.map(\.app) == ["uac"])
    }
}
