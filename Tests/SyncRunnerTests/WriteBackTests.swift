import AppStore
import DirectoryModel
import Foundation
import LDAPClient
import SlapdSupport
import SyncRunner
import Testing

@Suite struct WriteBackTests {
    static let phoneBoth = ["{ ldap: cn, app: name }", "{ ldap: telephoneNumber, app: phone, direction: both }"]

    private func phone(_ environment: SyncEnvironment, _ number: Int) throws -> [String] {
        let entry = try environment.root().readEntry(dn: environment.personDN(number), attributes: ["telephoneNumber"])
        return (entry?["telephoneNumber"] ?? []).map { String(decoding: $0, as: UTF8.self) }
    }

    private func editPhone(_ environment: SyncEnvironment, _ number: Int, _ value: String) throws {
        try environment.appStore().apply([.update(key: Fixtures.personUID(number), values: ["phone": .text(value)])])
    }

    @Test func anAppEditReachesLDAPOnlyWhenBothSwitchesAreOn() throws {
        let environment = try SyncEnvironment(people: 4, groups: 0)
        // Write-back off globally: the edit stays pending, and plan says why.
        try environment.configure(environment.yaml(attributes: Self.phoneBoth) + "\nwriteBack: { enabled: false }")
        _ = try environment.run()
        try editPhone(environment, 2, "+49 30 1234")
        var planOptions = RunOptions()
        planOptions.dryRun = true
        _ = try environment.run(planOptions)
        #expect(environment.outputLines.contains { $0.contains("telephoneNumber: app edit pending") && $0.contains("writeBack.enabled is false") })
        let held = try environment.run()
        #expect(held.summaries[0].writtenBack == 0)
        #expect(try phone(environment, 2) != ["+49 30 1234"])
        #expect(try environment.managedUsers()[Fixtures.personUID(2)]?.values["phone"] == .text("+49 30 1234"))

        // Global switch on, but the attribute is from-ldap: the app edit is reset instead.
        try environment.configure(environment.yaml(attributes: ["{ ldap: cn, app: name }", "{ ldap: telephoneNumber, app: phone }"])
                                  + "\nwriteBack: { enabled: true }")
        var fromLDAPPlan = RunOptions()
        fromLDAPPlan.dryRun = true
        _ = try environment.run(fromLDAPPlan)
        #expect(environment.outputLines.contains { $0.contains("app edit reset") })

        // Both switches on: the edit is written to LDAP.
        try environment.configure(environment.yaml(attributes: Self.phoneBoth) + "\nwriteBack: { enabled: true }")
        let written = try environment.run()
        #expect(written.exitCode == 0)
        #expect(written.summaries[0].writtenBack == 1)
        #expect(try phone(environment, 2) == ["+49 30 1234"])

        // I4 and I7: the next runs write nothing on either side.
        environment.waitForNextSecond()
        for _ in 0..<2 {
            let again = try environment.run()
            #expect(again.summaries[0].writtenBack == 0)
            #expect(again.summaries[0].changes == 0)
        }
    }

    /// From ParallelWrites.parallelFrom writes on, two connections share them: every
    /// outcome still reaches its own user, a refusal included.
    @Test func manyWritesOverTwoConnectionsEachReachTheirEntry() throws {
        var slapd = SlapdServer.Configuration()
        let people = 620
        let denied = "uid=\(Fixtures.personUID(301)),ou=people,\(slapd.suffix)"
        var access = SlapdServer.defaultAccess(for: slapd)
        access.insert(#"to dn.exact="\#(denied)" attrs=telephoneNumber by dn.exact="\#(slapd.syncDN)" read by * break"#, at: 1)
        slapd.access = access
        let environment = try SyncEnvironment(people: people, groups: 0, slapd: slapd)
        try environment.configure(environment.yaml(attributes: Self.phoneBoth) + "\nwriteBack: { enabled: true }")
        _ = try environment.run()
        try environment.appStore().apply((1...people).map { number in
            .update(key: Fixtures.personUID(number), values: ["phone": .text("+1 555 \(number)")])
        })
        let run = try environment.run()
        #expect(run.exitCode == 1)
        #expect(run.summaries[0].writtenBack == people - 1)
        #expect(run.summaries[0].failures.map(\.dn) == [denied])
        for number in [1, 2, 300, 302, 619, 620] { #expect(try phone(environment, number) == ["+1 555 \(number)"]) }
        #expect(try phone(environment, 301) != ["+1 555 301"])
        #expect(try environment.status().retry.count == 1)
    }

    @Test func aWriteTheACLDeniesIsReportedRetriedAndWrittenOnceAllowed() throws {
        var slapd = SlapdServer.Configuration()
        let denied = "uid=\(Fixtures.personUID(2)),ou=people,\(slapd.suffix)"
        var access = SlapdServer.defaultAccess(for: slapd)
        access.insert(#"to dn.exact="\#(denied)" attrs=telephoneNumber by dn.exact="\#(slapd.syncDN)" read by * break"#, at: 1)
        slapd.access = access
        let environment = try SyncEnvironment(people: 4, groups: 0, slapd: slapd)
        try environment.configure(environment.yaml(attributes: Self.phoneBoth) + "\nwriteBack: { enabled: true }")
        _ = try environment.run()
        try editPhone(environment, 1, "+1 allowed")
        try editPhone(environment, 2, "+1 denied")

        let run = try environment.run()
        #expect(run.exitCode == 1)
        #expect(run.summaries[0].writtenBack == 1)
        let failure = try #require(run.summaries[0].failures.first)
        #expect(failure.dn == denied)
        #expect(failure.message.hasPrefix("WRITE_FAILED"))
        #expect(failure.message.contains("insufficientAccessRights (50)"))
        #expect(try phone(environment, 1) == ["+1 allowed"])
        #expect(try environment.status().retry.count == 1)

        // The administrator fixes the ACL; the next run writes it and empties the retry set.
        let config = try LDAPConnection(url: environment.server.ldapiURL)
        try config.bindExternal()
        try config.perform(.modify(dn: "olcDatabase={1}mdb,cn=config", modifications: [Modification(.delete, "olcAccess", strings: ["{1}"])]))
        let fixed = try environment.run()
        #expect(fixed.exitCode == 0)
        #expect(try phone(environment, 2) == ["+1 denied"])
        #expect(try environment.status().retry.isEmpty)
    }

    @Test func anAttributeMissingFromTheSchemaIsASchemaViolation() throws {
        let environment = try SyncEnvironment(people: 2, groups: 0)
        try environment.configure(environment.yaml(attributes: ["{ ldap: cn, app: name }", "{ ldap: trainingRecord, app: training, direction: to-ldap }"])
                                  + "\nwriteBack: { enabled: true }")
        _ = try environment.run()
        try environment.appStore().apply([.update(key: Fixtures.personUID(1), values: ["training": .text("GMP-101")])])
        let run = try environment.run()
        #expect(run.exitCode == 1)
        let failure = try #require(run.summaries[0].failures.first)
        #expect(failure.message.hasPrefix("SCHEMA_VIOLATION"))
        #expect(failure.message.contains("undefinedAttributeType (17)"))
    }
}

@Suite struct WriteBackOptionsTests {
    @Test func onlyLimitsTheRunToThoseUsersAndKeepsTheCursor() throws {
        let environment = try SyncEnvironment(people: 5, groups: 0)
        try environment.configure(environment.yaml())
        var only = RunOptions()
        only.only = [Fixtures.personUID(3)]
        let run = try environment.run(only)
        #expect(run.summaries[0].created == 1)
        #expect(try environment.managedUsers().keys.sorted() == [Fixtures.personUID(3)])
        #expect(try environment.status().cursor == nil)
        let full = try environment.run()
        #expect(full.summaries[0].created == 4)
    }

    @Test func planWritesAnLDIFThatLdapmodifyAccepts() throws {
        let environment = try SyncEnvironment(people: 3, groups: 0)
        try environment.configure(environment.yaml(attributes: WriteBackTests.phoneBoth) + "\nwriteBack: { enabled: true }")
        _ = try environment.run()
        try environment.appStore().apply([.update(key: Fixtures.personUID(1), values: ["phone": .text("+44 20 7946 0000")])])
        let ldifPath = environment.directory.appendingPathComponent("changes.ldif").path
        var plan = RunOptions()
        plan.dryRun = true
        plan.ldifPath = ldifPath
        _ = try environment.run(plan)
        let ldif = try String(contentsOfFile: ldifPath, encoding: .utf8)
        #expect(ldif.contains("dn: \(environment.personDN(1))\nchangetype: modify\nreplace: telephoneNumber\ntelephoneNumber: +44 20 7946 0000\n-\n"))
        // The plan wrote nothing; ldapmodify applies the file.
        let passwordFile = try environment.server.writePasswordFile(environment.server.configuration.rootPassword)
        let result = try ExternalCommand.run("/usr/bin/ldapmodify", [
            "-x", "-H", environment.server.url, "-D", environment.server.configuration.rootDN, "-y", passwordFile, "-f", ldifPath,
        ])
        #expect(result.status == 0, "\(result.combinedOutput)")
        let entry = try environment.root().readEntry(dn: environment.personDN(1), attributes: ["telephoneNumber"])
        #expect(entry?["telephoneNumber"] == [Array("+44 20 7946 0000".utf8)])
    }

    @Test func writesUseTheWritePrincipalAndReadsTheReadPrincipal() throws {
        // The limited account may read people but not write them; the sync account writes.
        let environment = try SyncEnvironment(people: 3, groups: 0)
        let limitedPassword = environment.directory.appendingPathComponent("limited.pw").path
        FileManager.default.createFile(atPath: limitedPassword, contents: Data(environment.server.configuration.limitedPassword.utf8),
                                       attributes: [.posixPermissions: 0o600])
        let yaml = environment.yaml(attributes: WriteBackTests.phoneBoth, directoryExtra: "writeBind: { dn: \"\(environment.server.configuration.syncDN)\", passwordFile: sync.pw }")
            .replacingOccurrences(of: "bind: { dn: \"\(environment.server.configuration.syncDN)\", passwordFile: sync.pw }\n",
                                  with: "bind: { dn: \"\(environment.server.configuration.limitedDN)\", passwordFile: limited.pw }\n")
        try environment.configure(yaml + "\nwriteBack: { enabled: true }")
        _ = try environment.run()
        try environment.appStore().apply([.update(key: Fixtures.personUID(2), values: ["phone": .text("+1 via writeBind")])])
        let run = try environment.run()
        #expect(run.exitCode == 0, "\(run.summaries[0].failures)")
        #expect(run.summaries[0].writtenBack == 1)
        let entry = try environment.root().readEntry(dn: environment.personDN(2), attributes: ["telephoneNumber", "modifiersName"])
        #expect(entry?["telephoneNumber"] == [Array("+1 via writeBind".utf8)])
        #expect(entry?["modifiersName"].map { $0.map { String(decoding: $0, as: UTF8.self).lowercased() } } == [environment.server.configuration.syncDN.lowercased()])
    }
}

@Suite struct AuditTrailTests {
    @Test func everyWriteIsAuditedWithItsOutcomeAndSensitiveValuesNeverAppear() throws {
        var slapd = SlapdServer.Configuration()
        let denied = "uid=\(Fixtures.personUID(2)),ou=people,\(slapd.suffix)"
        var access = SlapdServer.defaultAccess(for: slapd)
        access.insert(#"to dn.exact="\#(denied)" attrs=telephoneNumber by dn.exact="\#(slapd.syncDN)" read by * break"#, at: 1)
        slapd.access = access
        let environment = try SyncEnvironment(people: 3, groups: 0, slapd: slapd)
        try environment.configure(environment.yaml(attributes: [
            "{ ldap: cn, app: name }", "{ ldap: employeeNumber, app: badge, sensitive: true }",
            "{ ldap: telephoneNumber, app: phone, direction: both }",
        ]) + "\nwriteBack: { enabled: true }")
        _ = try environment.run()
        try environment.appStore().apply([
            .update(key: Fixtures.personUID(1), values: ["phone": .text("+1 audited")]),
            .update(key: Fixtures.personUID(2), values: ["phone": .text("+1 refused")]),
        ])
        _ = try environment.run()

        let path = environment.directory.appendingPathComponent("audit.jsonl").path
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let lines = try text.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
        // The first run created 3 users in the app.
        #expect(lines.filter { $0["side"] as? String == "app" && $0["op"] as? String == "create" }.count == 3)
        let ldap = lines.filter { $0["side"] as? String == "ldap" }
        #expect(ldap.count == 2)
        let failed = try #require(ldap.first { $0["outcome"] as? String == "failure" })
        #expect(failed["dn"] as? String == denied)
        #expect(failed["code"] as? Int == 50)
        #expect(ldap.contains { $0["outcome"] as? String == "success" && $0["key"] as? String == Fixtures.personUID(1) })
        // employeeNumber values are the person numbers: "2" would be everywhere, so check the
        // redaction marker on the create lines instead of grepping the value.
        let create = try #require(lines.first { $0["op"] as? String == "create" })
        let badge = try #require((create["attributes"] as? [[String: Any]])?.first { $0["name"] as? String == "badge" })
        #expect(badge["new"] as? [String] == ["<redacted>"])
    }
}

@Suite struct ManualConflictTests {
    /// Also with `app.findEdits: updated-at`, where the later runs do not compare the
    /// conflicting row (it was updated before their bound): stored conflicts are decided
    /// again on every run.
    @Test(arguments: ["scan", "updated-at"])
    func aManualConflictSurvivesRunsUntilResolved(findEdits: String) throws {
        let environment = try SyncEnvironment(people: 2, groups: 0)
        let configuration = try environment.configure(environment.yaml(attributes: [
            "{ ldap: cn, app: name }", "{ ldap: telephoneNumber, app: phone, direction: both, conflict: manual }",
        ]).replacingOccurrences(of: "app: { path: app.db }", with: "app: { path: app.db, findEdits: \(findEdits) }")
            + "\nwriteBack: { enabled: true }")
        _ = try environment.run()
        environment.waitForNextSecond()
        try environment.root().perform(.modify(dn: environment.personDN(1), modifications: [Modification(.replace, "telephoneNumber", strings: ["+1 ldap side"])]))
        try environment.appStore().apply([.update(key: Fixtures.personUID(1), values: ["phone": .text("+1 app side")])])

        for _ in 0..<2 {
            let run = try environment.run()
            environment.waitForNextSecond()
            #expect(run.exitCode == 1)
            #expect(run.summaries[0].pendingConflicts == 1)
            #expect(run.summaries[0].writtenBack == 0)
            #expect(try environment.managedUsers()[Fixtures.personUID(1)]?.values["phone"] == .text("+1 app side"))
        }
        let commands = StateCommands(configuration: configuration)
        let pending = try commands.conflicts()[0].conflicts
        #expect(pending.count == 1)
        #expect(pending[0].attribute == "telephoneNumber")
        #expect(pending[0].resolution == nil)

        #expect(try commands.resolveConflict(key: Fixtures.personUID(1), attribute: "phone", takeLDAP: false) == ["test"])
        let settled = try environment.run()
        #expect(settled.exitCode == 0)
        #expect(settled.summaries[0].writtenBack == 1)
        let entry = try environment.root().readEntry(dn: environment.personDN(1), attributes: ["telephoneNumber"])
        #expect(entry?["telephoneNumber"] == [Array("+1 app side".utf8)])
        #expect(try commands.conflicts()[0].conflicts.isEmpty)
    }
}

@Suite struct TrainingRecordTests {
    /// Seed 000: the app's course completions reach LDAP as canonical JSON values, and back.
    @Test func courseRecordsFlowAsCanonicalJSONValuesBothWays() throws {
        var slapd = SlapdServer.Configuration()
        slapd.extraSchema = [Fixtures.trainingRecordSchema]
        let environment = try SyncEnvironment(people: 2, groups: 0, slapd: slapd)
        try environment.root().perform(.modify(dn: environment.personDN(1), modifications: [Modification(.add, "objectClass", strings: ["trainingPerson"])]))
        try environment.configure(environment.yaml(attributes: [
            "{ ldap: cn, app: name }",
            "{ ldap: trainingRecord, app: training, direction: both, multiValued: true, transform: json }",
        ]) + "\nwriteBack: { enabled: true }")
        _ = try environment.run()
        let key = Fixtures.personUID(1)
        try environment.appStore().apply([.update(key: key, values: ["training": .text("""
            [ { "score": 92, "course": "GMP-101", "completed": "2026-03-01" },
              { "completed": "2026-04-15", "course": "SOP-7" } ]
            """)])])
        let run = try environment.run()
        #expect(run.exitCode == 0, "\(run.summaries[0].failures)")
        #expect(run.summaries[0].writtenBack == 1)
        let values = try environment.root().readEntry(dn: environment.personDN(1), attributes: ["trainingRecord"])?["trainingRecord"] ?? []
        #expect(Set(values.map { String(decoding: $0, as: UTF8.self) }) == [
            #"{"completed":"2026-03-01","course":"GMP-101","score":92}"#,
            #"{"completed":"2026-04-15","course":"SOP-7"}"#,
        ])

        // A record added in LDAP comes back to the app as part of the canonical array.
        environment.waitForNextSecond()
        try environment.root().perform(.modify(dn: environment.personDN(1), modifications: [
            Modification(.add, "trainingRecord", strings: [#"{"course":"QA-2","completed":"2026-05-01"}"#]),
        ]))
        _ = try environment.run()
        let training = try environment.managedUsers()[key]?.values["training"]
        #expect(training == .text(#"[{"completed":"2026-03-01","course":"GMP-101","score":92},{"completed":"2026-04-15","course":"SOP-7"},{"completed":"2026-05-01","course":"QA-2"}]"#))
        environment.waitForNextSecond()
        let quiet = try environment.run()
        #expect(quiet.summaries[0].writtenBack == 0)
        #expect(quiet.summaries[0].changes == 0)
    }
}

@Suite struct ConcurrentEditTests {
    @Test func concurrentEditsOnBothSidesEndAsTheMergeTableSays() throws {
        let environment = try SyncEnvironment(people: 3, groups: 0)
        try environment.configure(environment.yaml(attributes: [
            "{ ldap: cn, app: name }",
            "{ ldap: telephoneNumber, app: phone, direction: both }",
            "{ ldap: description, app: note, direction: both }",
            "{ ldap: mail, app: email, direction: both, multiValued: true }",
        ]) + "\nwriteBack: { enabled: true }")
        _ = try environment.run()
        environment.waitForNextSecond()
        let one = Fixtures.personUID(1), two = Fixtures.personUID(2)
        let root = try environment.root()
        // Person 1: LDAP edits description and adds a mail; the app edits phone and adds another mail.
        try root.perform(.modify(dn: environment.personDN(1), modifications: [
            Modification(.replace, "description", strings: ["from LDAP"]),
            Modification(.add, "mail", strings: ["ldap-added@example.com"]),
        ]))
        // Person 2: both sides change telephoneNumber differently (ldap-wins).
        try root.perform(.modify(dn: environment.personDN(2), modifications: [Modification(.replace, "telephoneNumber", strings: ["+2 ldap"])]))
        try environment.appStore().apply([
            .update(key: one, values: ["phone": .text("+1 app"), "email": .text(#"["\#(one)@example.com","app-added@example.com"]"#)]),
            .update(key: two, values: ["phone": .text("+2 app")]),
        ])

        let run = try environment.run()
        #expect(run.exitCode == 0, "\(run.summaries[0].failures)")
        #expect(run.summaries[0].conflicts == 1)
        let entry = try root.readEntry(dn: environment.personDN(1), attributes: ["telephoneNumber", "description", "mail"])
        #expect(entry?["telephoneNumber"] == [Array("+1 app".utf8)])
        #expect(Set(entry?["mail"] ?? []) == Set(["\(one)@example.com", "ldap-added@example.com", "app-added@example.com"].map { Array($0.utf8) }))
        let users = try environment.managedUsers()
        #expect(users[one]?.values["note"] == .text("from LDAP"))
        #expect(users[one]?.values["email"].map { value -> Set<String> in
            guard case .text(let text) = value else { return [] }
            return Set((try? JSONStringArray.decode(text)) ?? [])
        } == ["\(one)@example.com", "ldap-added@example.com", "app-added@example.com"])
        #expect(users[two]?.values["phone"] == .text("+2 ldap"))
        let two2 = try root.readEntry(dn: environment.personDN(2), attributes: ["telephoneNumber"])
        #expect(two2?["telephoneNumber"] == [Array("+2 ldap".utf8)])

        let audit = try String(contentsOfFile: environment.directory.appendingPathComponent("audit.jsonl").path, encoding: .utf8)
        let conflictLine = try #require(audit.split(separator: "\n").first { $0.contains(#""op":"conflict""#) })
        #expect(conflictLine.contains("+2 ldap") && conflictLine.contains("+2 app") && conflictLine.contains(two))

        environment.waitForNextSecond()
        let quiet = try environment.run()
        #expect(quiet.summaries[0].writtenBack == 0)
        #expect(quiet.summaries[0].changes == 0)
    }
}

@Suite struct AppSideDetectionTests {
    @Test func anAppEditIsFoundAlthoughLDAPDidNotChangeTheEntry() throws {
        let environment = try SyncEnvironment(people: 4, groups: 0)
        try environment.configure(environment.yaml(attributes: WriteBackTests.phoneBoth) + "\nwriteBack: { enabled: true }")
        _ = try environment.run()
        try environment.moveCursorPastTheFixture()

        try environment.appStore().apply([.update(key: Fixtures.personUID(3), values: ["phone": .text("+3 app only")])])
        let run = try environment.run()
        #expect(run.summaries[0].writtenBack == 1)
        let entry = try environment.root().readEntry(dn: environment.personDN(3), attributes: ["telephoneNumber"])
        #expect(entry?["telephoneNumber"] == [Array("+3 app only".utf8)])
    }

    @Test func anAppEditOfAFromLDAPAttributeIsResetAlthoughLDAPDidNotChange() throws {
        let environment = try SyncEnvironment(people: 3, groups: 0)
        try environment.configure(environment.yaml())
        _ = try environment.run()
        try environment.moveCursorPastTheFixture()
        try environment.appStore().apply([.update(key: Fixtures.personUID(2), values: ["name": .text("Edited In The App")])])
        let run = try environment.run()
        #expect(run.summaries[0].resets == 1)
        #expect(try environment.managedUsers()[Fixtures.personUID(2)]?.values["name"] != .text("Edited In The App"))
    }
}
