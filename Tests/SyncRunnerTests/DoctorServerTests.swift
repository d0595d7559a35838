import DirectoryModel
import Foundation
import LDAPClient
import SlapdSupport
@testable import SyncRunner
import Testing

/// The doctor's checks of what the server holds (base DNs, schema, object classes,
/// timestamps, limits) and the write test, each against a real slapd set up to fail.
@Suite struct DoctorServerTests {
    @Test func aMissingBaseDNIsNamedWithTheClosestEntry() throws {
        let environment = try SyncEnvironment(people: 2, groups: 0)
        let suffix = environment.server.configuration.suffix
        try environment.configure(environment.yaml().replacingOccurrences(of: "users: { base: \"\(environment.peopleBase)\" }",
                                                                          with: "users: { base: \"ou=peeple,\(suffix)\" }"))
        let report = environment.doctor()

        let failure = try #require(report.lines(.fail).first, "\(report.dump)")
        #expect(failure.summary == "base DN ou=peeple,\(suffix) does not exist (users.base)")
        #expect(failure.advice?.hasPrefix("the closest entry that exists is \(suffix); correct users.base of directory test") == true, "\(failure.advice ?? "")")
        #expect(report.lines(.fail).count == 1, "\(report.dump)")
        #expect(report.checks.first { $0.area == "objectClass" }?.status == .skip)
        let timestamps = try #require(report.checks.first { $0.area == "timestamp" })
        #expect(timestamps.status == .pass)
        #expect(timestamps.summary.hasSuffix("(read from entries under \(environment.groupsBase): the user base cannot be read)"))
    }

    @Test func anAttributeMissingFromTheSchemaIsNamed() throws {
        let environment = try SyncEnvironment(people: 2, groups: 0)
        try environment.configure(environment.yaml(attributes: ["{ ldap: mail, app: email }", "{ ldap: trainingRecord, app: training }"]))
        let report = environment.doctor()

        let failure = try #require(report.lines(.fail).first { $0.area == "schema" }, "\(report.dump)")
        #expect(failure.summary == "attribute trainingRecord is not in the server's schema")
        #expect(failure.advice?.contains("attributes[1].ldap") == true)
        #expect(report.lines(.fail).count == 1, "\(report.dump)")
    }

    @Test func aWriteBackAttributeTheUsersObjectClassDoesNotAllowIsNamed() throws {
        var slapd = SlapdServer.Configuration()
        slapd.extraSchema = [Fixtures.trainingRecordSchema]
        let environment = try SyncEnvironment(people: 3, groups: 0, slapd: slapd)
        try environment.configure(environment.yaml(attributes: [
            "{ ldap: mail, app: email }", "{ ldap: trainingRecord, app: training, direction: to-ldap, multiValued: true }",
        ]))
        let report = environment.doctor()

        let failure = try #require(report.lines(.fail).first, "\(report.dump)")
        #expect(failure.area == "objectClass")
        #expect(failure.summary == "object class inetOrgPerson does not allow trainingRecord (3 of the 3 users checked, such as \(environment.personDN(1)))")
        #expect(failure.advice?.contains("add the auxiliary object class trainingPerson") == true, "\(failure.advice ?? "")")
        #expect(report.lines(.fail).count == 1, "\(report.dump)")
    }

    @Test func usersWhoseObjectClassesAllowTheWriteBackAttributePass() throws {
        var slapd = SlapdServer.Configuration()
        slapd.extraSchema = [Fixtures.trainingRecordSchema]
        let environment = try SyncEnvironment(people: 2, groups: 0, slapd: slapd)
        for number in 1...2 {
            try environment.root().perform(.modify(dn: environment.personDN(number), modifications: [Modification(.add, "objectClass", strings: ["trainingPerson"])]))
        }
        try environment.configure(environment.yaml(attributes: ["{ ldap: trainingRecord, app: training, direction: to-ldap, multiValued: true }"]))
        let report = environment.doctor()

        #expect(report.lines(.fail).isEmpty, "\(report.dump)")
        #expect(!report.lines(containing: "object classes of the 2 users checked allow the write-back attributes trainingRecord").isEmpty)
    }

    /// SPEC §5: a `both` attribute's transform must round-trip, checked on the data.
    @Test func aBothTransformThatDoesNotRoundTripTheDirectorysValuesFails() throws {
        let environment = try SyncEnvironment(people: 3, groups: 0)
        try environment.root().perform(.modify(dn: environment.personDN(2), modifications: [
            Modification(.replace, "description", strings: ["red,green", "blue"]),
        ]))
        try environment.root().perform(.modify(dn: environment.personDN(3), modifications: [
            Modification(.replace, "description", strings: ["red", "blue"]),
        ]))
        try environment.configure(environment.yaml(attributes: [
            "{ ldap: mail, app: email }", "{ ldap: description, app: tags, direction: both, transform: { join: \",\" } }",
        ]))
        let report = environment.doctor()
        let failure = try #require(report.lines(.fail).first { $0.area == "transform" }, "\(report.dump)")
        #expect(failure.summary == "the transform of description (join(\",\")) does not round-trip the directory's values: 1 of the 3 users checked, such as \(environment.personDN(2))", "\(failure.summary)")
        #expect(report.lines(.fail).count == 1, "\(report.dump)")

        // Without the value holding the separator, the same transform passes.
        try environment.root().perform(.modify(dn: environment.personDN(2), modifications: [
            Modification(.replace, "description", strings: ["red", "green"]),
        ]))
        let fixed = environment.doctor()
        #expect(fixed.lines(.fail).isEmpty, "\(fixed.dump)")
        #expect(!fixed.lines(containing: "round-trips the values of the 3 users checked").isEmpty, "\(fixed.dump)")
    }

    @Test func aWrongTimestampPatternNamesTheOneThatMatches() throws {
        let environment = try SyncEnvironment(people: 2, groups: 0)
        try environment.configure(environment.yaml(timestamp: "{ overlap: 0s, pattern: ad }"))
        let report = environment.doctor()

        let failure = try #require(report.lines(.fail).first, "\(report.dump)")
        #expect(failure.area == "timestamp")
        let newest = try environment.newestModifyTimestamp()
        #expect(failure.summary.hasPrefix("server timestamps look like \(newest.generalizedTime.prefix(8))"))
        #expect(failure.summary.hasSuffix("Z but the pattern is ad: use openldap"))
        #expect(failure.advice == "set timestamp.pattern: openldap for directory test: the pattern decides how the cursor is written into the search filter")
    }

    @Test(arguments: [
        ("20261121153000.0Z", "ad"), ("20261121153000Z", "openldap"),
        ("20261121153000.123Z", "yyyyMMddHHmmss.SSS'Z'"), ("20261121153000+0100", "yyyyMMddHHmmss'+0100'"),
    ])
    func theTimestampGuessNamesAPresetOrAnExplicitPattern(value: String, pattern: String) throws {
        let guess = try #require(ServerChecks.guessPattern(value))
        #expect(guess.text == pattern)
        #expect(throws: Never.self) { try guess.parse(value) }
    }

    @Test func aSizeLimitOnTheSyncAccountIsFoundByTheIDOnlyListing() throws {
        let environment = try SyncEnvironment(people: 600, groups: 0)
        let server = environment.server.configuration
        try environment.writeFile("limited.pw", server.limitedPassword)
        try environment.configure(environment.yaml().replacingOccurrences(of: "bind: { dn: \"\(server.syncDN)\", passwordFile: sync.pw }",
                                                                          with: "bind: { dn: \"\(server.limitedDN)\", passwordFile: limited.pw }"))
        let report = environment.doctor()

        let failure = try #require(report.lines(.fail).first, "\(report.dump)")
        #expect(failure.area == "sizeLimit")
        #expect(failure.summary == "size limit 500 applies to the sync account \(server.limitedDN): paged searches will fail after 500 entries (user scope)")
        #expect(failure.advice?.contains("olcLimits: dn.exact=\"\(server.limitedDN)\" size=unlimited") == true)
        #expect(report.lines(.fail).count == 1, "\(report.dump)")
    }

    @Test(arguments: [true, false])
    func theDoctorSaysHowEveryRunListsTheScope(syncProvider: Bool) throws {
        var slapd = SlapdServer.Configuration()
        if syncProvider { slapd.syncProvider = .init() }
        let environment = try SyncEnvironment(people: 2, groups: 0, slapd: slapd)
        try environment.configure(environment.yaml())
        let report = environment.doctor()
        let check = try #require(report.checks.first { $0.area == "deletions" }, "\(report.dump)")
        #expect(check.status == .pass)
        if syncProvider {
            #expect(check.summary == "deletions: every-run lists the scope through content-sync refreshes (RFC 4533) from the previous run's cookie")
        } else {
            #expect(check.summary.hasPrefix("deletions: every-run lists the scope page by page: the server does not offer content sync"))
            #expect(check.advice?.contains("syncprov") == true)
        }
    }

    @Test func multiValuedTrueOnASingleValuedAttributeWarns() throws {
        let environment = try SyncEnvironment(people: 1, groups: 0)
        try environment.configure(environment.yaml(attributes: ["{ ldap: displayName, app: display, multiValued: true }"]))
        let report = environment.doctor()

        let warning = try #require(report.lines(.warn).first, "\(report.dump)")
        #expect(warning.summary == "attribute displayName is single-valued in the server's schema but multiValued: true")
        #expect(warning.advice == "set multiValued: false in attributes[0]")
        #expect(report.exitCode == 0)
    }

    // MARK: Write test

    static let writeBackYAML = ["{ ldap: cn, app: name }", "{ ldap: telephoneNumber, app: phone, direction: both }", "{ ldap: description, app: note, direction: to-ldap }"]

    @Test func theWriteTestRewritesEachWriteBackAttributeWithItsCurrentValue() throws {
        let environment = try SyncEnvironment(people: 2, groups: 0)
        try environment.configure(environment.yaml(attributes: Self.writeBackYAML) + "\nwriteBack: { enabled: true }")
        let before = try #require(try environment.root().readEntry(dn: environment.personDN(1)))
        let report = environment.doctor(writeTest: Fixtures.personUID(1))

        #expect(report.lines(.fail).isEmpty, "\(report.dump)")
        let writes = report.checks.filter { $0.area == "writeTest" }
        #expect(writes.map(\.status) == [.pass, .pass])
        #expect(writes[0].summary == "write test: telephoneNumber of \(environment.personDN(1)) rewritten with its current 1 value as \(environment.syncDN)")
        #expect(writes[1].summary == "write test: description of \(environment.personDN(1)) rewritten with its current 1 value as \(environment.syncDN)")
        let after = try #require(try environment.root().readEntry(dn: environment.personDN(1)))
        #expect(after["telephoneNumber"] == before["telephoneNumber"])
        #expect(after["description"] == before["description"])
    }

    @Test func aWriteTestDeniedByTheAccessRulesNamesTheServersResult() throws {
        var slapd = SlapdServer.Configuration()
        // The defaults without the rules that let the sync account write people and groups.
        let defaults = SlapdServer.defaultAccess(for: slapd)
        slapd.access = defaults.filter { !$0.contains("write by * break") }
        let environment = try SyncEnvironment(people: 2, groups: 0, slapd: slapd)
        try environment.configure(environment.yaml(attributes: Self.writeBackYAML) + "\nwriteBack: { enabled: true }")
        let report = environment.doctor(writeTest: Fixtures.personUID(2))

        let failures = report.lines(.fail)
        #expect(failures.count == 2, "\(report.dump)")
        let failure = try #require(failures.first)
        #expect(failure.area == "writeTest")
        #expect(failure.summary.hasPrefix("write test: writing telephoneNumber of \(environment.personDN(2)) as \(environment.syncDN) was refused: insufficientAccessRights (50)"))
        #expect(failure.advice?.hasPrefix("grant \(environment.syncDN) write access to telephoneNumber") == true)
        #expect(report.exitCode == 1)
    }

    @Test func theWriteTestIsSkippedWhileWriteBackIsDisabled() throws {
        let environment = try SyncEnvironment(people: 1, groups: 0)
        try environment.configure(environment.yaml(attributes: Self.writeBackYAML))
        let before = try environment.root().readEntry(dn: environment.personDN(1), attributes: ["entryCSN"])
        let report = environment.doctor(writeTest: Fixtures.personUID(1))

        let skipped = try #require(report.checks.first { $0.area == "writeTest" })
        #expect(skipped.status == .skip)
        #expect(skipped.advice?.hasPrefix("writeBack.enabled is false, so ldapsync writes nothing to LDAP") == true)
        #expect(try environment.root().readEntry(dn: environment.personDN(1), attributes: ["entryCSN"]) == before)
    }

    @Test func theWriteTestOfAnUnknownKeyFails() throws {
        let environment = try SyncEnvironment(people: 1, groups: 0)
        try environment.configure(environment.yaml(attributes: Self.writeBackYAML) + "\nwriteBack: { enabled: true }")
        let report = environment.doctor(writeTest: "nobody")

        let failure = try #require(report.lines(.fail).first, "\(report.dump)")
        #expect(failure.summary == "write test: no user with uid=nobody under \(environment.peopleBase) matches (objectClass=inetOrgPerson)")
    }
}
