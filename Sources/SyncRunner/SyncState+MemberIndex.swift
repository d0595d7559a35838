#if canImport(Glibc)
import Glibc
#endif
import DirectoryModel
import StateStore
import SyncEngine

/// The member index: for each member reference of a directory's group snapshots, which
/// groups hold it (`memberIndex`: key `directory 0 reference group-id`, empty value), and
/// each group's DN and name (`groupHeads`: key `directory 0 group-id`). It is derived from
/// the group snapshots and changes with them in the same transaction of the state commit,
/// so that an incremental run finds its users' groups without reading every group's
/// members (SPEC §13). A marker (`groupHeads` key `directory 0`, which no group id can
/// have: ids are never empty) says it is complete; without it, it is built once from
/// the snapshots.
extension SyncState {
    /// A group's DN and name, without its members.
    struct GroupHead: Sendable, Equatable {
        var dn: String
        var name: String
    }

    /// Whether the directory's member index is complete.
    func hasMemberIndex(_ directory: String) throws -> Bool {
        try environment.read { txn in try txn.get(Self.prefix(directory), in: groupHeads) != nil }
    }

    /// Builds the directory's member index from its group snapshots when it is not
    /// complete (first run of a version that keeps it, or a build cut short), in
    /// transactions of about `chunk` index records.
    func ensureMemberIndex(_ directory: String, chunk: Int = 50_000) throws {
        guard try !hasMemberIndex(directory) else { return }
        let prefix = Self.prefix(directory)
        for db in [memberIndex, groupHeads] {
            while try environment.write({ txn in try txn.removeAll(in: db, range: .prefix(prefix), limit: chunk) }) >= chunk {
                environment.releaseMappedPages()
            }
        }
        // A group record holds about 32 bytes a member: chunks of about `chunk` members.
        try forEachChunk(environment, groups, prefix: prefix, chunk: chunk, maxBytes: chunk * 32) { batch in
            try environment.write { txn in
                for (key, value) in batch {
                    try updateMemberIndex(directory, id: Array(key.dropFirst(prefix.count)), old: nil, new: value, &txn)
                }
            }
            environment.releaseMappedPages()
        }
        try environment.write { txn in try txn.put([1], forKey: prefix, in: groupHeads) }
    }

    /// Brings the index in line with one group snapshot replaced (`old` → `new`, nil:
    /// none), in the transaction that writes it. Idempotent: a commit completed again
    /// after a crash finds old == new for the groups it already wrote.
    /// - Parameter addingMembers: false when the new members' entries are put by
    ///   ``putStagedMembers(_:)`` (the staged members hold them, in the index's order).
    func updateMemberIndex(_ directory: String, id: [UInt8], old: [UInt8]?, new: [UInt8]?, addingMembers: Bool = true,
                           _ txn: inout WriteTransaction) throws {
        let prefix = Self.prefix(directory)
        let before = try old.map { bytes in try decode("group snapshot") { try StateRecords.decodeGroup(bytes) } }
        let after = try new.map { bytes in try decode("group snapshot") { try StateRecords.decodeGroup(bytes) } }
        let removed = (before?.members ?? []).subtracting(after?.members ?? [])
        let added = addingMembers ? (after?.members ?? []).subtracting(before?.members ?? []) : []
        // In key order: neighbouring keys share pages. A large group's members are spread
        // over the whole index, whose leaves are read (to be copied) through the map: the
        // pages are released as they go, not all kept resident until the commit's end.
        for (index, key) in removed.map({ Self.memberIndexKey(prefix, $0) + id }).sorted(by: KeyRange.precedes).enumerated() {
            if index % 2_000 == 1_999 { environment.releaseMappedPages() }
            _ = try txn.delete(key, in: memberIndex)
        }
        for (index, key) in added.map({ Self.memberIndexKey(prefix, $0) + id }).sorted(by: KeyRange.precedes).enumerated() {
            if index % 2_000 == 1_999 { environment.releaseMappedPages() }
            try txn.put([], forKey: key, in: memberIndex)
        }
        if let after {
            var writer = ByteWriter(capacity: after.dn.utf8.count + after.name.utf8.count + 8)
            writer.writeLengthPrefixed(after.dn)
            writer.writeLengthPrefixed(after.name)
            try txn.put(writer.bytes, forKey: prefix + id, in: groupHeads)
        } else {
            _ = try txn.delete(prefix + id, in: groupHeads)
        }
    }

    /// Every group's DN and name, by id.
    func groupHeads(_ directory: String) throws -> [[UInt8]: GroupHead] {
        let prefix = Self.prefix(directory)
        var result: [[UInt8]: GroupHead] = [:]
        try environment.read { txn in
            try txn.forEach(in: groupHeads, range: .prefix(prefix)) { key, value in
                guard key.count > prefix.count else { return .continue }
                var reader = ByteReader(value)
                let head = try decode("group head") {
                    GroupHead(dn: try reader.readLengthPrefixedString(), name: try reader.readLengthPrefixedString())
                }
                result[Array(key.dropFirst(prefix.count))] = head
                return .continue
            }
        }
        return result
    }

    /// Stages the members of groups this run changed (their ``memberIndex`` entries are
    /// out of date until the commit), so that the run does not hold them in memory.
    func stageMembers(_ directory: String, _ groups: [([UInt8], Set<MemberReference>)]) throws {
        guard !groups.isEmpty else { return }
        try stageMembers(directory, keys: Self.memberIndexKeys(directory, groups))
    }

    /// The ``memberIndex`` keys of these groups' members, packed: a few buffers, not a set
    /// of strings per group (for ``stageMembers(_:keys:)`` on another thread).
    static func memberIndexKeys(_ directory: String, _ groups: [([UInt8], Set<MemberReference>)]) -> PackedByteStrings {
        let prefix = Self.prefix(directory)
        var keys = PackedByteStrings(capacity: groups.reduce(0) { $0 + $1.1.count })
        for (id, members) in groups {
            for member in members {
                keys.append { key in
                    writeMemberIndexKey(prefix, member, to: &key)
                    key.writeBytes(id)
                }
            }
        }
        return keys
    }

    /// ``stageMembers(_:_:)`` of the keys ``memberIndexKeys(_:_:)`` made.
    func stageMembers(_ directory: String, keys: PackedByteStrings) throws {
        guard keys.count > 0 else { return }
        guard let staging, let pendingMembers else {
            throw StateCorruption(what: "the staging area", reason: "not opened for this command")
        }
        let prefix = Self.prefix(directory)
        var keys = keys
        keys.sort()
        try staging.write { txn in
            // Every group staged with a snapshot from now on has its members staged too.
            try txn.put([], forKey: Self.stagedMembersMarker(prefix), in: pendingMembers)
            // The keys are spread over the whole tree: each put reads (to copy) a leaf
            // through the map. Released as they go, they do not all stay resident.
            var index = 0
            try keys.forEach { key in
                if index % 2_000 == 1_999 { staging.releaseMappedPages() }
                index += 1
                try txn.put([], forKey: key, in: pendingMembers)
            }
        }
        staging.releaseMappedPages()
    }

    /// The key in `pendingMembers` that says the staged members are those of every group
    /// staged with a snapshot (``stageMembers(_:_:)``: the run stages both together). No
    /// member's key has it: their reference's kind, after the prefix, is 1 or 2.
    static func stagedMembersMarker(_ prefix: [UInt8]) -> [UInt8] { prefix + [0] }

    /// Whether the staged members are those of every staged group (``stagedMembersMarker(_:)``).
    func hasStagedMembers(_ directory: String) throws -> Bool {
        guard let staging, let pendingMembers else { return false }
        return try staging.read { txn in try txn.get(Self.stagedMembersMarker(Self.prefix(directory)), in: pendingMembers) != nil }
    }

    /// Puts the staged members' entries into the member index, in its key order: each
    /// transaction fills neighbouring leaves, where putting each group's members in turn
    /// would touch leaves all over the index for every group (a first run's million
    /// members rewrote the whole index dozens of times). Idempotent, like the commit.
    func putStagedMembers(_ directory: String, chunk: Int = 10_000) throws {
        guard let staging, let pendingMembers else { return }
        let prefix = Self.prefix(directory)
        let members = KeyRange(from: prefix + [1], to: prefix + [3])
        // A first run's index is empty: its entries are appended (while they sort after
        // every key of the index, as when it holds no other directory's after them).
        var appending = true
        try copyStaged(staging, pendingMembers, range: members, chunk: chunk) { key, empty, txn in
            if appending { appending = try txn.append(empty, forKey: key, in: memberIndex) }
            if !appending { try txn.put(empty, forKey: key, in: memberIndex) }
        }
    }

    /// The ids of the groups whose snapshot holds each of these members; with `staged`,
    /// of the groups this run changed (``stageMembers(_:_:)``).
    func groupIDs(_ directory: String, holding members: some Sequence<MemberReference>, staged: Bool = false) throws -> [MemberReference: [[UInt8]]] {
        var result: [MemberReference: [[UInt8]]] = [:]
        try forEachGroupID(directory, holding: Array(members), staged: staged) { member, id in result[member, default: []].append(Array(id)) }
        return result
    }

    /// ``groupIDs(_:holding:staged:)`` without building its dictionary: `body` gets each
    /// member the index holds with one group's id at a time (lent for the call only), in
    /// the order of `members`. One transaction and one cursor serve the whole batch.
    func forEachGroupID(_ directory: String, holding members: [MemberReference], staged: Bool = false,
                        _ body: (MemberReference, UnsafeRawBufferPointer) throws -> Void) throws {
        let prefix = Self.prefix(directory)
        let environment = staged ? staging : environment
        guard let environment, let memberIndex = staged ? pendingMembers : memberIndex else {
            throw StateCorruption(what: "the staging area", reason: "not opened for this command")
        }
        let starts = members.map { Self.memberIndexKey(prefix, $0) }
        try environment.read { txn in
            try txn.forEachKey(in: memberIndex, prefixes: starts) { index, id in try body(members[index], id) }
        }
    }

    /// One group's snapshot.
    func group(_ directory: String, id: [UInt8]) throws -> GroupRecord? {
        try environment.read { txn in
            try txn.get(Self.prefix(directory) + id, in: groups).map { bytes in
                try decode("group snapshot") { try StateRecords.decodeGroup(bytes) }
            }
        }
    }

    /// `prefix`, the reference's kind, its length and its bytes: no reference's key is a
    /// prefix of another's, so a prefix search finds exactly one member's groups.
    private static func memberIndexKey(_ prefix: [UInt8], _ member: MemberReference) -> [UInt8] {
        var writer = ByteWriter(capacity: prefix.count + 64)
        writeMemberIndexKey(prefix, member, to: &writer)
        return writer.bytes
    }

    private static func writeMemberIndexKey(_ prefix: [UInt8], _ member: MemberReference, to writer: inout ByteWriter) {
        writer.writeBytes(prefix)
        switch member {
        case .dn(let key): writer.writeByte(1); writer.writeLengthPrefixed(key)
        case .key(let key): writer.writeByte(2); writer.writeLengthPrefixed(key)
        }
    }
}
