import AppStore
import DirectoryModel
import Foundation
import LDAPClient
import SlapdSupport
@testable import SyncRunner
import Testing

/// Hostile directory data (issue #7): each case is either synced exactly or rejected for
/// its entry with a message naming the entry and the reason; the other users of the run
/// are synced, and a following run changes nothing.
@Suite struct HostileDataTests {
    /// Octet-string attributes, which slapd stores as any bytes (empty, NUL, not UTF-8),
    /// unlike directoryString ones: `hostileSingle` single-valued, `hostileValue` multi.
    static let octetSchema = """
        dn: cn=hostile,cn=schema,cn=config
        objectClass: olcSchemaConfig
        cn: hostile
        olcAttributeTypes: ( 1.3.6.1.4.1.99999.1.40 NAME 'hostileSingle' EQUALITY octetStringMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 SINGLE-VALUE )
        olcAttributeTypes: ( 1.3.6.1.4.1.99999.1.41 NAME 'hostileValue' EQUALITY octetStringMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 )
        olcObjectClasses: ( 1.3.6.1.4.1.99999.2.40 NAME 'hostilePerson' SUP top AUXILIARY MAY ( hostileSingle $ hostileValue ) )
        """

    static let octetAttributes = ["{ ldap: cn, app: name }", "{ ldap: hostileSingle, app: single }",
                                  "{ ldap: hostileValue, app: multi, multiValued: true }"]

    static func octetEnvironment(people: Int = 3) throws -> SyncEnvironment {
        var slapd = SlapdServer.Configuration()
        slapd.extraSchema = [octetSchema]
        let environment = try SyncEnvironment(people: people, groups: 0, slapd: slapd)
        try environment.configure(environment.yaml(attributes: octetAttributes))
        return environment
    }

    /// Gives fixture person `number` the octet-string values (nil: leaves one out).
    static func setOctets(_ environment: SyncEnvironment, person number: Int, single: [UInt8]? = nil, multi: [[UInt8]]? = nil) throws {
        var modifications = [Modification(.add, "objectClass", strings: ["hostilePerson"])]
        if let single { modifications.append(Modification(.replace, "hostileSingle", values: [single])) }
        if let multi { modifications.append(Modification(.replace, "hostileValue", values: multi)) }
        try environment.root().perform(.modify(dn: environment.personDN(number), modifications: modifications))
    }

    /// A following incremental run and a following full run both write nothing, leave the
    /// app rows as they are and fail exactly the entries that failed before.
    static func expectNoChurn(_ environment: SyncEnvironment, failing: Set<String> = [],
                              sourceLocation: SourceLocation = #_sourceLocation) throws {
        let users = try environment.managedUsers()
        let snapshotUsers = try environment.status().snapshotUsers
        var full = RunOptions()
        full.full = true
        for options in [RunOptions(), full] {
            let again = try environment.run(options)
            let summary = again.summaries[0]
            #expect(summary.changes == 0, "full: \(options.full)", sourceLocation: sourceLocation)
            #expect(summary.resets == 0, "full: \(options.full)", sourceLocation: sourceLocation)
            if options.full || failing.isEmpty {
                #expect(Set(summary.failures.compactMap(\.dn)) == failing, "full: \(options.full)", sourceLocation: sourceLocation)
            }
            #expect(try environment.managedUsers() == users, "full: \(options.full)", sourceLocation: sourceLocation)
            #expect(try environment.status().snapshotUsers == snapshotUsers, sourceLocation: sourceLocation)
        }
    }

    /// An LDIF line with the value in base64 (`attr:: `), for any bytes.
    static func base64Line(_ attribute: String, _ value: [UInt8]) -> String {
        "\(attribute):: \(Data(value).base64EncodedString())\n"
    }

    /// An inetOrgPerson entry with any DN, key and name.
    static func personLDIF(dn: String, uid: String, cn: String, extra: String = "") -> String {
        base64Line("dn", Array(dn.utf8)) + "objectClass: inetOrgPerson\n" + base64Line("uid", Array(uid.utf8))
            + base64Line("cn", Array(cn.utf8)) + "sn: Hostile\n" + extra + "\n"
    }

    // MARK: Empty values

    @Test func anEmptyValueIsSyncedAsEmptyTextNotNull() throws {
        let environment = try Self.octetEnvironment()
        // slapd refuses an empty value in a directoryString attribute such as description...
        #expect(throws: LDAPError.self) {
            try environment.root().perform(.modify(dn: environment.personDN(1), modifications: [
                Modification(.replace, "description", values: [[]]),
            ]))
        }
        // ...but an octet string may be empty.
        try Self.setOctets(environment, person: 2, single: [], multi: [[], Array("x".utf8)])
        let run = try environment.run()
        #expect(run.exitCode == 0)
        #expect(run.summaries[0].failures.isEmpty)
        #expect(run.summaries[0].created == 3)
        let users = try environment.managedUsers()
        let two = try #require(users[Fixtures.personUID(2)])
        #expect(two.values["single"] == .text(""))
        #expect(two.values["multi"] == .text(#"["","x"]"#))
        #expect(users[Fixtures.personUID(1)]?.values["single"] == .null)
        #expect(users[Fixtures.personUID(1)]?.values["multi"] == .null)
        try Self.expectNoChurn(environment)
    }

    // MARK: Large values

    @Test func aFiveMegabytePhotoIsSyncedByteForByte() throws {
        let environment = try SyncEnvironment(people: 3, groups: 0)
        // slapd reads at most 4 MiB from an authenticated client by default.
        let raised = try ExternalCommand.run("ldapmodify", ["-Y", "EXTERNAL", "-Q", "-H", environment.server.ldapiURL],
                                             environment: ["LDAPNOINIT": "1"], standardInput: """
            dn: cn=config
            changetype: modify
            replace: olcSockbufMaxIncomingAuth
            olcSockbufMaxIncomingAuth: 16777215

            """)
        try #require(raised.status == 0, "\(raised.combinedOutput)")
        try environment.configure(environment.yaml(attributes: ["{ ldap: cn, app: name }", "{ ldap: jpegPhoto, app: photo, binary: true }"]))
        // A JPEG header, then every byte value over and over (NULs, bytes that are not UTF-8).
        var photo: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0]
        photo.reserveCapacity(5 * 1024 * 1024)
        var seed: UInt32 = 7
        while photo.count < 5 * 1024 * 1024 - 2 {
            seed = seed &* 1_103_515_245 &+ 12345
            photo.append(UInt8(truncatingIfNeeded: seed >> 16))
        }
        photo += [0xFF, 0xD9]
        try environment.root().perform(.modify(dn: environment.personDN(2), modifications: [
            Modification(.replace, "jpegPhoto", values: [photo]),
        ]))
        let run = try environment.run()
        #expect(run.exitCode == 0)
        #expect(run.summaries[0].created == 3)
        let users = try environment.managedUsers()
        #expect(users[Fixtures.personUID(2)]?.values["photo"] == .blob(photo))
        #expect(users[Fixtures.personUID(1)]?.values["photo"] == .null)
        try Self.expectNoChurn(environment)
    }

    @Test func fiftyThousandValuesInOneAttributeAreSyncedInFull() throws {
        let environment = try SyncEnvironment(people: 3, groups: 0)
        try environment.configure(environment.yaml(attributes: ["{ ldap: cn, app: name }",
                                                                "{ ldap: description, app: notes, multiValued: true }"]))
        let values = (1...50_000).map { "note \($0)" }
        try environment.root().perform(.modify(dn: environment.personDN(2), modifications: [
            Modification(.replace, "description", strings: values),
        ]))
        let run = try environment.run()
        #expect(run.exitCode == 0)
        #expect(run.summaries[0].created == 3)
        let users = try environment.managedUsers()
        // The values in the order the server returns them: the order they were stored in.
        #expect(users[Fixtures.personUID(2)]?.values["notes"] == .text(JSONStringArray.encode(values)))
        #expect(users[Fixtures.personUID(3)]?.values["notes"] == .text(JSONStringArray.encode(["Fixture person 000003"])))
        try Self.expectNoChurn(environment)
    }

    // MARK: Bytes a text column cannot take

    @Test func textThatIsNotUTF8IsRejectedForItsEntryAndABinaryMappingCarriesIt() throws {
        let environment = try Self.octetEnvironment()
        let bytes: [UInt8] = [0x66, 0x6F, 0xFF, 0x6F, 0xC3]
        try Self.setOctets(environment, person: 2, single: bytes)
        let run = try environment.run()
        #expect(run.exitCode == 1)
        let failure = try #require(run.summaries[0].failures.first)
        #expect(run.summaries[0].failures.count == 1)
        #expect(failure.dn == environment.personDN(2))
        #expect(failure.key == Fixtures.personUID(2))
        #expect(failure.message.contains("hostileSingle"))
        #expect(failure.message.contains("not valid UTF-8"))
        #expect(try environment.managedUsers().keys.sorted() == [Fixtures.personUID(1), Fixtures.personUID(3)])
        #expect(try environment.status().retry.map(\.key) == [Fixtures.personUID(2)])
        try Self.expectNoChurn(environment, failing: [environment.personDN(2)])
        #expect(try environment.managedUsers()[Fixtures.personUID(2)] == nil)

        // Mapped as binary, the same bytes are carried exactly (the mapping change makes
        // the next run read the whole scope).
        try environment.configure(environment.yaml(attributes: ["{ ldap: cn, app: name }",
                                                                "{ ldap: hostileSingle, app: single, binary: true }"]))
        let binary = try environment.run()
        #expect(binary.exitCode == 0)
        #expect(try environment.managedUsers()[Fixtures.personUID(2)]?.values["single"] == .blob(bytes))
        #expect(try environment.status().retry.isEmpty)
        try Self.expectNoChurn(environment)
    }

    @Test func aNULByteIsCarriedInAMultiValuedColumnAndRejectedInASingleTextColumn() throws {
        let environment = try Self.octetEnvironment(people: 4)
        try Self.setOctets(environment, person: 2, single: Array("a\u{0}b".utf8))
        try Self.setOctets(environment, person: 3, multi: [Array("x\u{0}y".utf8)])
        let run = try environment.run()
        #expect(run.exitCode == 1)
        // A JSON array escapes the NUL: carried exactly.
        let users = try environment.managedUsers()
        #expect(users[Fixtures.personUID(3)]?.values["multi"] == .text(#"["x\u0000y"]"#))
        // A single text column cannot hold it (SQLite text through GRDB ends at a NUL):
        // the entry is rejected, never stored cut short.
        #expect(run.summaries[0].failures.count == 1)
        let failure = try #require(run.summaries[0].failures.first)
        #expect(failure.dn == environment.personDN(2))
        #expect(failure.message.contains("hostileSingle"))
        #expect(failure.message.contains("NUL"))
        #expect(users[Fixtures.personUID(2)] == nil)
        #expect(users.keys.sorted() == [1, 3, 4].map(Fixtures.personUID))
        try Self.expectNoChurn(environment, failing: [environment.personDN(2)])
    }

    // MARK: Names

    @Test func aDNWithEveryRFC4514SpecialCharacterAndNonASCIIIsSyncedAndMatchedAsAMember() throws {
        let environment = try SyncEnvironment(people: 4, groups: 1, membersPerGroup: 2)
        // The RDN value `#Zoë, "Ø'Brien" + <x> ; a=b \ 東京 ` (leading #, trailing space),
        // escaped as RFC 4514 requires.
        let cn = #"#Zoë, "Ø'Brien" + <x> ; a=b \ 東京 "#
        let dn = ##"cn=\#Zoë\, \"Ø'Brien\" \+ \<x\> \; a\=b \\ 東京\ ,"## + environment.peopleBase
        let uid = "zoë.øbrien"
        try environment.server.add(ldif: Self.personLDIF(dn: dn, uid: uid, cn: cn))
        // The group names the member in another spelling of the same DN: hex escapes and
        // an upper-case attribute type.
        let memberSpelling = #"CN=\23Zo\C3\AB\2C \22\C3\98'Brien\22 \2B \3Cx\3E \3B a\3Db \5C \E6\9D\B1\E4\BA\AC\20,"#
            + environment.peopleBase
        try environment.root().perform(.modify(dn: environment.groupDN(1), modifications: [
            Modification(.add, "member", strings: [memberSpelling]),
        ]))
        try environment.configure(environment.yaml(groups: environment.rules([("GrpAE", 1)])))
        let run = try environment.run()
        #expect(run.exitCode == 0)
        #expect(run.summaries[0].failures.isEmpty)
        #expect(run.summaries[0].created == 3)
        let users = try environment.managedUsers()
        #expect(users[uid]?.values["name"] == .text(cn))
        #expect(try environment.memberships([uid, Fixtures.personUID(1)], in: ["GrpAE"]) == [uid: ["GrpAE"], Fixtures.personUID(1): ["GrpAE"]])
        try Self.expectNoChurn(environment)
        #expect(try environment.memberships([uid], in: ["GrpAE"]) == [uid: ["GrpAE"]])
    }

    @Test func keysDifferingOnlyInCaseAreTwoAppUsers() throws {
        let environment = try SyncEnvironment(people: 2, groups: 0)
        try environment.server.add(ldif: Self.personLDIF(dn: "cn=Case Upper,\(environment.peopleBase)", uid: "CaseKey", cn: "Case Upper")
                                   + Self.personLDIF(dn: "cn=Case Lower,\(environment.peopleBase)", uid: "casekey", cn: "Case Lower"))
        try environment.configure(environment.yaml())
        let run = try environment.run()
        #expect(run.exitCode == 0)
        #expect(run.summaries[0].created == 4)
        // The app's key column compares bytes: two keys, two users, each with its own data.
        let users = try environment.managedUsers()
        #expect(users["CaseKey"]?.values["name"] == .text("Case Upper"))
        #expect(users["casekey"]?.values["name"] == .text("Case Lower"))
        try Self.expectNoChurn(environment)
    }

    @Test func aSecondEntryClaimingAKeyIsRejectedAndTheHolderKeepsIt() throws {
        let environment = try SyncEnvironment(people: 2, groups: 0)
        let first = "cn=Dup One,\(environment.peopleBase)"
        let second = "cn=Dup Two,\(environment.peopleBase)"
        try environment.server.add(ldif: Self.personLDIF(dn: first, uid: "dup", cn: "Dup One")
                                   + Self.personLDIF(dn: second, uid: "dup", cn: "Dup Two"))
        try environment.configure(environment.yaml())
        let run = try environment.run()
        #expect(run.exitCode == 1)
        #expect(run.summaries[0].created == 3)
        let failure = try #require(run.summaries[0].failures.first)
        #expect(run.summaries[0].failures.count == 1)
        #expect(failure.dn == second)
        #expect(failure.message.contains("uid dup"))
        #expect(failure.message.contains(first))
        let users = try environment.managedUsers()
        #expect(users["dup"]?.values["name"] == .text("Dup One"))
        #expect(users.count == 3)
        try Self.expectNoChurn(environment, failing: [second])

        // A third entry claiming the key later (an incremental run) is rejected too; it
        // never takes over the holder's row.
        environment.waitForNextSecond()
        let third = "cn=Dup Three,\(environment.peopleBase)"
        try environment.server.add(ldif: Self.personLDIF(dn: third, uid: "dup", cn: "Dup Three"))
        let later = try environment.run()
        #expect(later.summaries[0].changes == 0)
        #expect(later.summaries[0].failures.contains { $0.dn == third && $0.message.contains(first) })
        #expect(try environment.managedUsers() == users)
        try Self.expectNoChurn(environment, failing: [second, third])
    }

    // MARK: Identity

    @Test func anEntryWithoutTheIDAttributeIsRejected() throws {
        let environment = try SyncEnvironment(people: 3, groups: 0)
        let noID = "uid=noid,\(environment.peopleBase)"
        try environment.server.add(ldif: Self.personLDIF(dn: noID, uid: "noid", cn: "No Id"))
        // employeeNumber as the id: the fixture people have one, the new entry has none.
        let yaml = environment.yaml().replacingOccurrences(of: "users: { base: \"\(environment.peopleBase)\" }",
                                                           with: "users: { base: \"\(environment.peopleBase)\", id: employeeNumber }")
        try environment.configure(yaml)
        let run = try environment.run()
        #expect(run.exitCode == 1)
        #expect(run.summaries[0].created == 3)
        let failure = try #require(run.summaries[0].failures.first)
        #expect(run.summaries[0].failures.count == 1)
        #expect(failure.dn == noID)
        #expect(failure.message.contains("has no employeeNumber (the id attribute)"))
        #expect(try environment.managedUsers().keys.sorted() == (1...3).map(Fixtures.personUID))
        try Self.expectNoChurn(environment, failing: [noID])
    }

    @Test func whenTheKeyHolderIsDeletedTheOtherEntryTakesTheKeyOver() throws {
        let environment = try SyncEnvironment(people: 2, groups: 0)
        let first = "cn=Dup One,\(environment.peopleBase)"
        let second = "cn=Dup Two,\(environment.peopleBase)"
        try environment.server.add(ldif: Self.personLDIF(dn: first, uid: "dup", cn: "Dup One")
                                   + Self.personLDIF(dn: second, uid: "dup", cn: "Dup Two"))
        try environment.configure(environment.yaml())
        _ = try environment.run()
        environment.waitForNextSecond()
        try environment.root().perform(.delete(dn: first))
        // The run that sees the deletion still finds the holder in the snapshot: the other
        // entry is rejected once more, and the holder's user is deactivated.
        let deletion = try environment.run()
        #expect(deletion.summaries[0].deactivated == 1)
        #expect(deletion.summaries[0].failures.map(\.dn) == [second])
        #expect(try environment.managedUsers()["dup"]?.active == false)
        // The next run gives the key to the remaining entry (from the retry set).
        let takeover = try environment.run()
        #expect(takeover.exitCode == 0)
        #expect(takeover.summaries[0].reactivated == 1)
        let dup = try #require(try environment.managedUsers()["dup"])
        #expect(dup.active)
        #expect(dup.values["name"] == .text("Dup Two"))
        #expect(try environment.status().retry.isEmpty)
        try Self.expectNoChurn(environment)
    }

    @Test func anEntryThatLosesItsIDAttributeIsRejectedAndItsUserKept() throws {
        let environment = try SyncEnvironment(people: 3, groups: 0)
        let yaml = environment.yaml().replacingOccurrences(of: "users: { base: \"\(environment.peopleBase)\" }",
                                                           with: "users: { base: \"\(environment.peopleBase)\", id: employeeNumber }")
        try environment.configure(yaml)
        _ = try environment.run()
        let before = try environment.managedUsers()
        environment.waitForNextSecond()
        try environment.root().perform(.modify(dn: environment.personDN(2), modifications: [
            Modification(.delete, "employeeNumber", values: []),
        ]))
        // Read as changed: rejected, and its user is not taken for one gone from LDAP.
        let changed = try environment.run()
        #expect(changed.summaries[0].failures.map(\.dn) == [environment.personDN(2)])
        #expect(changed.summaries[0].failures.first?.message.contains("has no employeeNumber (the id attribute)") == true)
        #expect(changed.summaries[0].deactivated == 0)
        #expect(try environment.managedUsers() == before)
        #expect(try environment.status().snapshotUsers == 3)
        // Once the cursor has passed it, the deletion listing still finds the entry by its
        // key and keeps the user.
        environment.waitForNextSecond()
        try environment.root().perform(.modify(dn: environment.personDN(3), modifications: [
            Modification(.replace, "telephoneNumber", strings: ["+1 555 0000003"]),
        ]))
        _ = try environment.run()
        environment.waitForNextSecond()
        let listed = try environment.run()
        #expect(listed.summaries[0].deactivated == 0)
        #expect(listed.summaries[0].failures.map(\.dn) == [environment.personDN(2)])
        #expect(listed.summaries[0].failures.first?.message.contains("kept as it is, not deactivated") == true)
        #expect(try environment.managedUsers()[Fixtures.personUID(2)] == before[Fixtures.personUID(2)])
        // The id back: tracked again, nothing to change.
        try environment.root().perform(.modify(dn: environment.personDN(2), modifications: [
            Modification(.add, "employeeNumber", strings: ["2"]),
        ]))
        let back = try environment.run()
        #expect(back.exitCode == 0)
        #expect(back.summaries[0].changes == 0)
        #expect(try environment.managedUsers()[Fixtures.personUID(2)] == before[Fixtures.personUID(2)])
        try Self.expectNoChurn(environment)
    }
}
