import DirectoryModel
import Foundation
import SyncEngine
import Testing
@testable import SyncRunner

/// The staging area a run writes into before its commit (SyncState.swift): re-staging a
/// commit and discarding a directory's records work by key ranges, without visiting the
/// staged group snapshots or another directory's records.
@Suite struct StagingAreaTests {
    private func withState(_ body: (SyncState) throws -> Void) throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ldapsync-staging-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: path) }
        try body(SyncState(path: path, staging: true))
    }

    private func inDoubt(_ key: String) -> InDoubtRecord {
        InDoubtRecord(runID: "run", dn: "uid=\(key),ou=people", key: key, values: [:])
    }

    /// The parts sort around the group snapshots (deactivation marks before them, in-doubt
    /// writes after): a second staging replaces both kinds and keeps the groups.
    @Test func restagingACommitReplacesThePartsOnBothSidesOfTheStagedGroups() throws {
        try withState { state in
            let group = GroupRecord(dn: "cn=staff,ou=groups", name: "staff", members: [.key("alice"), .key("bob")])
            try state.stageGroups("a", [[7]: group])
            try state.stageCommit(SyncState.Commit(directory: "a", deactivated: ["old": true]), inDoubt: [[1]: inDoubt("old")])
            try state.stageCommit(SyncState.Commit(directory: "a", deactivated: ["new": true]), inDoubt: [[2]: inDoubt("new")])
            try state.prepare("a", InflightRecord(runID: "run", writesApp: false, cursorBefore: nil))
            try state.commitStaged("a", recovering: nil)

            #expect(try state.groups("a") == [[7]: group])
            #expect(try state.deactivatedBySync("a", appKeys: ["old", "new"]) == ["new"])
            #expect(try state.inDoubtWrites("a") == [[2]: inDoubt("new")])
            #expect(try state.stagedRecordCount("a") == 0)
        }
    }

    /// A run stages a changed group's members with its snapshot (`stageMembers`): the
    /// commit puts their index entries after the groups, in the index's order, and still
    /// removes those of the members a group lost and of a group gone.
    @Test func theStagedMembersOfTheChangedGroupsAreInTheIndexAfterTheCommit() throws {
        try withState { state in
            func commit(_ groups: [[UInt8]: GroupRecord?]) throws {
                for case (let id, let record?) in groups { try state.stageMembers("a", [(id, record.members)]) }
                try state.stageGroups("a", groups)
                try state.stageCommit(SyncState.Commit(directory: "a"), inDoubt: [:])
                try state.prepare("a", InflightRecord(runID: "run", writesApp: false, cursorBefore: nil))
                try state.commitStaged("a", recovering: nil)
                #expect(try state.stagedRecordCount("a") == 0)
            }
            let people: [MemberReference] = [.key("alice"), .key("bob"), .key("carol"), .dn("uid=dave,ou=people")]
            try commit([
                [7]: GroupRecord(dn: "cn=staff,ou=groups", name: "staff", members: [.key("alice"), .key("bob")]),
                [8]: GroupRecord(dn: "cn=admins,ou=groups", name: "admins", members: [.key("bob"), .dn("uid=dave,ou=people")]),
            ])
            #expect(try state.groupIDs("a", holding: people).mapValues { Set($0) }
                    == [.key("alice"): [[7]], .key("bob"): [[7], [8]], .dn("uid=dave,ou=people"): [[8]]])

            // staff loses alice and gains carol; admins go.
            let changed: [[UInt8]: GroupRecord?] = [
                [7]: GroupRecord(dn: "cn=staff,ou=groups", name: "staff", members: [.key("bob"), .key("carol")]),
                [8]: GroupRecord?.none,
            ]
            try commit(changed)
            #expect(try state.groupIDs("a", holding: people) == [.key("bob"): [[7]], .key("carol"): [[7]]])
        }
    }

    /// More records than one discarding transaction takes (5,000 small ones, 100 app-change
    /// batches), in every part, for two directories: only the one discarded goes.
    @Test func discardingADirectoryLeavesAnothersStagedRecords() throws {
        try withState { state in
            for (directory, people) in [("a", 12_345), ("b", 40)] {
                let ids = (0..<people).map { withUnsafeBytes(of: UInt32($0).bigEndian) { Array($0) } }
                try state.stage(directory, users: ids.map { ($0, nil) })
                let members = Set((0..<people).map { MemberReference.key("\(directory)-person\($0)") })
                try state.stageMembers(directory, [([1], members)])
                try state.stageGroups(directory, [[1]: GroupRecord(dn: "cn=g,ou=groups", name: "g", members: members)])
                for sequence in 0..<UInt64(people / 40) {
                    try state.stageAppChanges(directory, [.addMembership(user: "\(directory)-person\(sequence)", group: "g")], sequence: sequence)
                }
                try state.stageCommit(SyncState.Commit(directory: directory, deactivated: ["x": true]), inDoubt: [:])
            }
            // Users, members and their marker, app-change batches, the group and the
            // commit's mark and end marker.
            #expect(try state.stagedRecordCount("a") == 12_345 * 2 + 1 + 308 + 3)
            let before = try state.stagedRecordCount("b")
            #expect(before == 40 * 2 + 1 + 1 + 3)

            try state.discardStaged("a")

            #expect(try state.stagedRecordCount("a") == 0)
            #expect(try !state.hasStagedCommit("a"))
            #expect(try state.stagedRecordCount("b") == before)
            #expect(try state.hasStagedCommit("b"))
            #expect(try state.stagedAppChanges("a", sequence: 0) == nil)
            #expect(try state.stagedAppChanges("b", sequence: 0) == [.addMembership(user: "b-person0", group: "g")])
            let holders = try state.groupIDs("b", holding: [.key("b-person0")], staged: true)
            #expect(holders[.key("b-person0")] == [[1]])

            // The staging area now holds only b's records: they go at once, and it
            // takes new ones.
            try state.discardStaged("b")
            #expect(try state.stagedRecordCount("b") == 0)
            try state.stageAppChanges("b", [.addMembership(user: "b-person1", group: "g")], sequence: 0)
            #expect(try state.stagedRecordCount("b") == 1)
        }
    }

    /// A first run's snapshots are appended while each sorts after every key of the
    /// state store; a directory whose keys sort before another's ("a" after "b") is put
    /// instead. Either way every snapshot is there whole, found by id, DN and app key,
    /// and a second commit over them replaces them and their index entries.
    @Test func firstSnapshotsOfTwoDirectoriesInEitherOrderAreCommittedWhole() throws {
        try withState { state in
            func id(_ number: Int) -> [UInt8] { withUnsafeBytes(of: UInt32(number).bigEndian) { Array($0) } }
            func snapshot(_ directory: String, _ number: Int, mail: String) -> UserSnapshot {
                UserSnapshot(dn: "uid=\(directory)\(number),ou=people", dnKey: "uid=\(directory)\(number),ou=people",
                             key: "\(directory)-\(number)", values: [AttributeName("mail"): [Array(mail.utf8)]])
            }
            func commit(_ directory: String, _ users: [([UInt8], UserSnapshot?)]) throws {
                try state.stage(directory, users: users)
                try state.stageCommit(SyncState.Commit(directory: directory), inDoubt: [:])
                try state.prepare(directory, InflightRecord(runID: "run", writesApp: false, cursorBefore: nil))
                try state.commitStaged(directory, recovering: nil)
                #expect(try state.stagedRecordCount(directory) == 0)
            }
            // More than one commit transaction's worth (SyncState.commitChunk).
            let count = SyncState.commitChunk + 1_234
            for directory in ["b", "a"] {
                try commit(directory, (0..<count).map { (id($0), snapshot(directory, $0, mail: "first")) })
            }
            for directory in ["a", "b"] {
                #expect(try state.userCount(directory) == count)
                for number in [0, 1, count / 2, count - 1] {
                    #expect(try state.user(directory, id: id(number)) == snapshot(directory, number, mail: "first"))
                    #expect(try state.userID(directory, dnKey: "uid=\(directory)\(number),ou=people") == id(number))
                    #expect(try state.userID(directory, appKey: "\(directory)-\(number)") == id(number))
                }
            }
            // A later commit: one user renamed (new DN and key), one gone, one changed.
            var renamed = snapshot("a", 7, mail: "first")
            renamed.dn = "uid=renamed,ou=people"
            renamed.dnKey = renamed.dn
            renamed.key = "a-renamed"
            try commit("a", [(id(7), renamed), (id(8), nil), (id(9), snapshot("a", 9, mail: "second"))])
            #expect(try state.userCount("a") == count - 1)
            #expect(try state.user("a", id: id(7)) == renamed)
            #expect(try state.userID("a", dnKey: "uid=a7,ou=people") == nil)
            #expect(try state.userID("a", appKey: "a-7") == nil)
            #expect(try state.userID("a", dnKey: "uid=renamed,ou=people") == id(7))
            #expect(try state.userID("a", appKey: "a-renamed") == id(7))
            #expect(try state.user("a", id: id(8)) == nil)
            #expect(try state.userID("a", appKey: "a-8") == nil)
            #expect(try state.user("a", id: id(9)) == snapshot("a", 9, mail: "second"))
            #expect(try state.userCount("b") == count)
        }
    }
}
