import AppStore
import DirectoryModel
import Foundation
import LDAPClient
import SlapdSupport
@testable import SyncRunner
import Testing

@Suite struct BadDataTests {
    /// A timestamp attribute with an ordering rule but free text syntax, so a test can
    /// store a value that is not GeneralizedTime.
    static let stampSchema = """
        dn: cn=stamp,cn=schema,cn=config
        objectClass: olcSchemaConfig
        cn: stamp
        olcAttributeTypes: ( 1.3.6.1.4.1.99999.1.9 NAME 'syncStamp' EQUALITY caseIgnoreMatch ORDERING caseIgnoreOrderingMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
        olcObjectClasses: ( 1.3.6.1.4.1.99999.2.9 NAME 'stampedObject' SUP top AUXILIARY MAY syncStamp )
        """

    @Test func anUnparseableTimestampIsReportedAndTheCursorDoesNotPassIt() throws {
        var slapd = SlapdServer.Configuration()
        slapd.extraSchema = [Self.stampSchema]
        let environment = try SyncEnvironment(people: 4, groups: 0, slapd: slapd)
        try environment.configure(environment.yaml(timestamp: "{ attribute: syncStamp, overlap: 0s }"))
        let root = try environment.root()
        for number in 1...4 {
            let stamp = number == 3 ? "yesterday-ish" : "2026112\(number)153000Z"
            try root.perform(.modify(dn: environment.personDN(number), modifications: [
                Modification(.add, "objectClass", strings: ["stampedObject"]),
                Modification(.replace, "syncStamp", strings: [stamp]),
            ]))
        }
        let run = try environment.run()
        #expect(run.exitCode == 1)
        let failure = try #require(run.summaries[0].failures.first)
        #expect(failure.dn == environment.personDN(3))
        #expect(failure.message.contains("syncStamp"))
        #expect(failure.message.contains("cursor is not advanced"))
        #expect(try environment.status().cursor == nil)
        #expect(try environment.managedUsers().count == 3)
        #expect(try environment.status().retry.count == 1)

        // Once the value is fixed, the entry syncs and the cursor moves to the newest stamp.
        try root.perform(.modify(dn: environment.personDN(3), modifications: [
            Modification(.replace, "syncStamp", strings: ["20261123153000Z"]),
        ]))
        let fixed = try environment.run()
        #expect(fixed.exitCode == 0)
        #expect(try environment.managedUsers().count == 4)
        #expect(try environment.status().cursor == (try Timestamp(generalizedTime: "20261124153000Z")))
        #expect(try environment.status().retry.isEmpty)
    }

    @Test func aTextValueThatIsNotUTF8FailsThatEntryOnly() throws {
        let environment = try SyncEnvironment(people: 3, groups: 0)
        // audio has octet-string syntax, so the server stores any bytes; mapped as text,
        // a value that is not UTF-8 cannot be carried.
        try environment.configure(environment.yaml(attributes: ["{ ldap: cn, app: name }", "{ ldap: audio, app: note }"]))
        try environment.root().perform(.modify(dn: environment.personDN(2), modifications: [
            Modification(.replace, "audio", values: [[0x66, 0x6F, 0xFF, 0x6F]]),
        ]))
        let run = try environment.run()
        #expect(run.exitCode == 1)
        #expect(run.summaries[0].failures.count == 1)
        #expect(run.summaries[0].failures[0].message.contains("not valid UTF-8"))
        #expect(try environment.managedUsers().keys.sorted() == [Fixtures.personUID(1), Fixtures.personUID(3)])
        #expect(try environment.status().retry.count == 1)
    }

    @Test func aPlanWritesNothingAnywhere() throws {
        let environment = try SyncEnvironment(people: 5, groups: 1, membersPerGroup: 2)
        try environment.configure(environment.yaml(groups: environment.rules([("GrpAE", 1)])))
        var options = RunOptions()
        options.dryRun = true
        let plan = try environment.run(options)
        #expect(plan.summaries[0].created == 2)
        #expect(environment.outputLines.contains("+ \(Fixtures.personUID(1)) (\(environment.personDN(1)))"))
        #expect(environment.outputLines.contains("    + group GrpAE"))
        #expect(environment.outputLines.contains { $0.contains("nothing was written") })
        #expect(try environment.managedUsers().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: environment.statePath))
    }

    @Test func aSecondRunWhileOneHoldsTheLockExits4() throws {
        let environment = try SyncEnvironment(people: 2, groups: 0)
        try environment.configure(environment.yaml())
        _ = try environment.run()
        // Hold the lock as a concurrent run would.
        let holder = try RunLock(directory: environment.statePath)
        defer { withExtendedLifetime(holder) {} }
        let error = #expect(throws: RunError.self) { try environment.run() }
        #expect(error?.exitCode == 4)
        #expect(error?.description.contains("pid \(getpid())") == true)
    }
}
