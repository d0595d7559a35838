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
        }
    }
}
