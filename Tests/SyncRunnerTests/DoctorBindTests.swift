import DirectoryModel
import Foundation
import LDAPClient
import SlapdSupport
import SyncConfig
@testable import SyncRunner
import Testing

/// The doctor's password and bind checks against real failures of a real slapd.
@Suite struct DoctorBindTests {
    @Test func wrongPasswordIsInvalidCredentialsAndTheServerChecksAreSkipped() throws {
        let environment = try SyncEnvironment(people: 3, groups: 0)
        try environment.configure(environment.yaml())
        try environment.writeFile("sync.pw", "not-the-password")
        let report = environment.doctor()

        let failure = try #require(report.lines(.fail).first { $0.area == "bind" }, "\(report.dump)")
        #expect(failure.summary == "bind: invalid credentials for \(environment.syncDN)")
        let passwordFile = environment.directory.appendingPathComponent("sync.pw").path
        #expect(failure.advice?.hasPrefix("the password in \(passwordFile) is not this account's password, or the DN does not exist; test it with: ldapwhoami") == true,
                "\(failure.advice ?? "")")
        #expect(report.lines(.fail).count == 1, "\(report.dump)")
        // Every check that needs a bind says it was skipped and why.
        for area in ["rootDSE", "base", "schema", "objectClass", "timestamp", "clock", "sizeLimit"] {
            let skipped = try #require(report.checks.first { $0.area == area }, "no \(area) line")
            #expect(skipped.status == .skip)
            #expect(skipped.advice == "no principal could bind (see the bind lines above)")
        }
        #expect(report.exitCode == 1)
        #expect(!report.text.contains("not-the-password"))
    }

    @Test func lockedAccountIsNamedAsLockedThroughThePasswordPolicyControl() throws {
        var slapd = SlapdServer.Configuration()
        slapd.passwordPolicy = .init(maxFailures: 2)
        let environment = try SyncEnvironment(people: 3, groups: 0, slapd: slapd)
        try environment.configure(environment.yaml())
        // Two failed binds lock the account; the password in sync.pw is the right one.
        for _ in 0..<2 {
            let connection = try LDAPConnection(url: environment.server.url)
            #expect(throws: LDAPError.self) { try connection.bind(dn: environment.syncDN, password: Secret("wrong")) }
        }
        let report = environment.doctor()

        let failure = try #require(report.lines(.fail).first { $0.area == "bind" }, "\(report.dump)")
        #expect(failure.summary == "bind: account locked for \(environment.syncDN)")
        #expect(failure.advice?.contains("pwdAccountLockedTime") == true)
        #expect(report.exitCode == 1)
    }

    @Test func aWorkingAccountUnderAPasswordPolicyPasses() throws {
        var slapd = SlapdServer.Configuration()
        slapd.passwordPolicy = .init(maxFailures: 2)
        let environment = try SyncEnvironment(people: 3, groups: 0, slapd: slapd)
        try environment.configure(environment.yaml())
        let report = environment.doctor()
        #expect(report.lines(.fail).isEmpty, "\(report.dump)")
        #expect(!report.lines(containing: "bind: \(environment.syncDN) bound").isEmpty)
    }

    @Test(arguments: [
        ("80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 533, v4563", "bind: account disabled (AD data 533) for cn=sync,dc=corp"),
        ("80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 52e, v4563", "bind: invalid credentials (AD data 52e) for cn=sync,dc=corp"),
        ("80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 775, v4563", "bind: account locked out (AD data 775) for cn=sync,dc=corp"),
        ("80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 532, v4563", "bind: password expired (AD data 532) for cn=sync,dc=corp"),
    ])
    func activeDirectorySubCodesAreDecoded(diagnostic: String, expected: String) throws {
        // No Active Directory here: the bind result is the one AD sends, as libldap returns it.
        let error = LDAPError(operation: "bind", dn: "cn=sync,dc=corp", code: .invalidCredentials, diagnostic: diagnostic)
        let directory = try DoctorSamples.directory()
        let diagnosis = BindDiagnosis(PasswordPolicyBindError(error: error, policy: nil), dn: "cn=sync,dc=corp",
                                      source: .file("/etc/ldapsync/corp.pw"), directory: directory)
        #expect("bind: " + diagnosis.summary == expected)
        #expect(!diagnosis.advice.isEmpty)
    }

    @Test func aGroupReadablePasswordFileFailsWithTheChmod() throws {
        let environment = try SyncEnvironment(people: 1, groups: 0)
        try environment.configure(environment.yaml())
        try environment.writeFile("sync.pw", environment.server.configuration.syncPassword, mode: 0o640)
        let report = environment.doctor()

        let failure = try #require(report.lines(.fail).first, "\(report.dump)")
        #expect(failure.summary.hasPrefix("bind: cannot use the password of \(environment.syncDN): the password file "))
        #expect(failure.summary.contains("is readable by its group (mode 0640)"))
        let path = environment.directory.appendingPathComponent("sync.pw").path
        #expect(failure.advice == "chmod 600 \(path), and make it owned by the user ldapsync runs as")
        #expect(report.exitCode == 1)
    }

    @Test func aMissingPasswordFileFailsNamingIt() throws {
        let environment = try SyncEnvironment(people: 1, groups: 0)
        try environment.configure(environment.yaml())
        try FileManager.default.removeItem(at: environment.directory.appendingPathComponent("sync.pw"))
        let report = environment.doctor()

        let failure = try #require(report.lines(.fail).first, "\(report.dump)")
        #expect(failure.summary.contains("cannot read the password file"))
        #expect(failure.summary.contains("sync.pw"))
        #expect(failure.advice?.hasPrefix("create ") == true)
    }

    @Test func plaintextBindToARemoteHostIsRefusedBeforeAnyPasswordIsSent() throws {
        let environment = try SyncEnvironment(people: 1, groups: 0)
        try environment.configure(environment.yaml())
        // 192.0.2.1 (TEST-NET-1) is not loopback; no connection may be attempted.
        let yaml = environment.yaml(directoryExtra: "timeout: 2s").replacingOccurrences(of: environment.server.url, with: "ldap://192.0.2.1:389")
        try environment.writeFile("ldapsync.yaml", yaml, mode: 0o644)
        let report = environment.doctor()

        let failure = try #require(report.lines(.fail).first { $0.area == "bind" }, "\(report.dump)")
        #expect(failure.summary == "bind: refused to send the password of \(environment.syncDN) over plain ldap:// to ldap://192.0.2.1:389; no password was sent")
        #expect(failure.advice?.contains("startTLS: true") == true)
        #expect(report.lines(containing: "invalid credentials").isEmpty)
        #expect(report.lines(containing: "cannot connect").isEmpty)
        #expect(report.checks.first { $0.area == "base" }?.advice == "no bind was attempted: the password would travel unencrypted (see the bind line above)")
    }

    /// The issue's "tried as a new user would": three mistakes, one run, three FAIL lines
    /// that each say what to change. The read principal's password is wrong, so the checks
    /// go on as the write principal and say so.
    @Test func aBrokenConfigurationIsDiagnosedInOneRun() throws {
        let environment = try SyncEnvironment(people: 5, groups: 1)
        let limited = environment.server.configuration
        try environment.writeFile("writer.pw", limited.limitedPassword)
        var yaml = environment.yaml(timestamp: "{ overlap: 0s, pattern: ad }")
        yaml = yaml.replacingOccurrences(of: "groups: { base: \"\(environment.groupsBase)\" }",
                                         with: "groups: { base: \"ou=groupz,\(limited.suffix)\" }")
        yaml = yaml.replacingOccurrences(of: "    users:", with: "    writeBind: { dn: \"\(limited.limitedDN)\", passwordFile: writer.pw }\n    users:")
        try environment.configure(yaml)
        try environment.writeFile("sync.pw", "wrong-password")
        let report = environment.doctor()

        let failures = report.lines(.fail)
        try #require(failures.count == 3, "\(report.dump)")
        #expect(failures[0].summary == "bind: invalid credentials for \(environment.syncDN)")
        #expect(failures[1].summary == "base DN ou=groupz,\(limited.suffix) does not exist (groups.base)")
        #expect(failures[2].summary.hasPrefix("server timestamps look like "))
        #expect(failures[2].summary.hasSuffix("Z but the pattern is ad: use openldap"))
        for failure in failures { #expect(failure.advice?.isEmpty == false) }
        #expect(failures[1].advice?.contains("correct groups.base") == true)
        #expect(failures[2].advice?.contains("set timestamp.pattern: openldap") == true)
        let fallback = try #require(report.lines(.warn).first, "\(report.dump)")
        #expect(fallback.summary == "the checks below run as the write principal \(limited.limitedDN), because the read principal \(environment.syncDN) cannot bind")
        #expect(!report.lines(containing: "bind: \(limited.limitedDN) (write principal, writeBind) bound").isEmpty)
    }

    /// The same with the most likely typo, in the user base: the timestamp check reads
    /// entries elsewhere rather than stopping, so the wrong pattern is still named.
    @Test func aMistypedUserBaseDoesNotHideAWrongPattern() throws {
        let environment = try SyncEnvironment(people: 5, groups: 1)
        let limited = environment.server.configuration
        try environment.writeFile("writer.pw", limited.limitedPassword)
        var yaml = environment.yaml(timestamp: "{ overlap: 0s, pattern: ad }")
        yaml = yaml.replacingOccurrences(of: "users: { base: \"\(environment.peopleBase)\" }",
                                         with: "users: { base: \"ou=peeple,\(limited.suffix)\" }")
        yaml = yaml.replacingOccurrences(of: "    users:", with: "    writeBind: { dn: \"\(limited.limitedDN)\", passwordFile: writer.pw }\n    users:")
        try environment.configure(yaml)
        try environment.writeFile("sync.pw", "wrong-password")
        let report = environment.doctor()

        let failures = report.lines(.fail)
        try #require(failures.count == 3, "\(report.dump)")
        #expect(failures[0].summary == "bind: invalid credentials for \(environment.syncDN)")
        #expect(failures[1].summary == "base DN ou=peeple,\(limited.suffix) does not exist (users.base)")
        #expect(failures[1].advice?.contains("the closest entry that exists is \(limited.suffix)") == true)
        #expect(failures[2].summary.hasPrefix("server timestamps look like "))
        #expect(failures[2].summary.hasSuffix("Z but the pattern is ad: use openldap (read from entries under \(environment.groupsBase): the user base cannot be read)"))
        #expect(failures[2].advice?.contains("set timestamp.pattern: openldap") == true)
    }
}

enum DoctorSamples {
    /// A directory configuration as the loader makes it, for unit tests of the doctor's wording.
    static func directory() throws -> DirectoryConfiguration {
        let yaml = """
            version: 1
            directories:
              - name: corp
                type: ad
                url: ldaps://dc1.example.com
                bind: { dn: "cn=sync,dc=corp", passwordFile: corp.pw }
                users: { base: "dc=corp" }
            app: { path: app.db }
            audit: { path: audit.jsonl }
            attributes:
              - { ldap: mail, app: email }
            """
        return try ConfigurationLoader.load(yaml: yaml, sourcePath: "/etc/ldapsync/ldapsync.yaml").directories[0]
    }
}
