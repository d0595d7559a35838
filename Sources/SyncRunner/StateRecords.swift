import DirectoryModel
import StateStore
import SyncEngine
#if canImport(Glibc)
import Glibc
#endif

extension RecordDecodingError.Reason {
    /// A flag byte holds a value the format does not define.
    static let invalidFlag = Self(rawValue: "invalid flag byte")
}

/// Binary codecs for what the state store keeps. Each record starts with a format byte;
/// decoding checks everything (a corrupt state store is an error naming the record,
/// never a crash).
enum StateRecords {
    static let version: UInt8 = 1

    // MARK: Users

    static func encode(_ snapshot: UserSnapshot) -> [UInt8] {
        var writer = ByteWriter(capacity: 256)
        write(snapshot, to: &writer)
        return writer.bytes
    }

    /// A staged snapshot: the tag byte 1, then the record of ``encode(_:)-(UserSnapshot)``,
    /// built in one buffer.
    static func encodeStaged(_ snapshot: UserSnapshot) -> [UInt8] {
        var writer = ByteWriter(capacity: 256)
        writer.writeByte(1)
        write(snapshot, to: &writer)
        return writer.bytes
    }

    /// The user record's format: 2 writes the DN key only where it differs from the DN
    /// (a flag byte after the DN); 1, the DN key always (still read: a state written by
    /// an earlier version, or staged by a run that died before an upgrade).
    static let userVersion: UInt8 = 2

    private static func write(_ snapshot: UserSnapshot, to writer: inout ByteWriter) {
        writer.writeByte(userVersion)
        writer.writeLengthPrefixed(snapshot.dn)
        // Most DNs are their own key (already in the normalized form): 43 bytes a user
        // fewer in the snapshot and the staging area at 1,000,000 users.
        if snapshot.dnKey == snapshot.dn {
            writer.writeByte(0)
        } else {
            writer.writeByte(1)
            writer.writeLengthPrefixed(snapshot.dnKey)
        }
        writer.writeLengthPrefixed(snapshot.key)
        writeValues(snapshot.values, to: &writer)
        writer.writeCount(snapshot.memberOf.count)
        for group in snapshot.memberOf { writer.writeLengthPrefixed(group) }
        writeTimestamp(snapshot.timestamp, to: &writer)
    }

    static func decodeUser(_ bytes: [UInt8]) throws(RecordDecodingError) -> UserSnapshot {
        var reader = ByteReader(bytes)
        let format = try userFormat(&reader)
        let dn = try reader.readLengthPrefixedString()
        let dnKey = try hasOwnDNKey(&reader, format) ? try reader.readLengthPrefixedString() : dn
        let key = try reader.readLengthPrefixedString()
        let values = try readValues(&reader)
        var memberOf: [String] = []
        for _ in 0..<(try reader.readCount()) { memberOf.append(try reader.readLengthPrefixedString()) }
        let timestamp = try readTimestamp(&reader)
        try reader.expectEnd()
        return UserSnapshot(dn: dn, dnKey: dnKey, key: key, values: values, memberOf: memberOf, timestamp: timestamp)
    }

    /// Where a user record's DN key and app key are (byte ranges of `bytes`), after the
    /// same checks as ``decodeUser(_:)`` (the same error for a damaged record), without
    /// building the snapshot: the state commit only needs these two to index the record.
    static func userIndexKeys(_ bytes: [UInt8]) throws(RecordDecodingError) -> (dnKey: Range<Int>, key: Range<Int>) {
        var reader = ByteReader(bytes)
        let format = try userFormat(&reader)
        let dn = try reader.skipLengthPrefixed(utf8: true)
        let dnKey = try hasOwnDNKey(&reader, format) ? try reader.skipLengthPrefixed(utf8: true) : dn
        let key = try reader.skipLengthPrefixed(utf8: true)
        for _ in 0..<(try reader.readCount(minimumItemSize: 2)) {
            _ = try reader.skipLengthPrefixed(utf8: true)
            for _ in 0..<(try reader.readCount()) { _ = try reader.skipLengthPrefixed() }
        }
        for _ in 0..<(try reader.readCount()) { _ = try reader.skipLengthPrefixed(utf8: true) }
        _ = try readTimestamp(&reader)
        try reader.expectEnd()
        return (dnKey, key)
    }

    private static func userFormat(_ reader: inout ByteReader) throws(RecordDecodingError) -> UInt8 {
        let found = try reader.readByte()
        guard found == version || found == userVersion else { throw RecordDecodingError(.unsupportedVersion, at: 0) }
        return found
    }

    /// Whether the record holds a DN key of its own after the DN (always in format 1).
    private static func hasOwnDNKey(_ reader: inout ByteReader, _ format: UInt8) throws(RecordDecodingError) -> Bool {
        guard format == userVersion else { return true }
        let offset = reader.offset
        switch try reader.readByte() {
        case 0: return false
        case 1: return true
        default: throw RecordDecodingError(.invalidFlag, at: offset)
        }
    }

    // MARK: Groups

    static func encode(_ group: GroupRecord) -> [UInt8] {
        var packed = PackedGroup(group)
        return encode(&packed)
    }

    /// A group's record before its members are put in order: what
    /// ``encode(_:)-(GroupRecord)`` needs, the members packed (a few buffers, not a set of
    /// strings), so that another thread can finish the record (``encode(_:tag:)``).
    struct PackedGroup: Sendable {
        var dn: String
        var name: String
        var timestamp: Timestamp?
        /// Each the reference's kind byte, then its text.
        var members: PackedByteStrings

        init(_ group: GroupRecord) {
            (dn, name, timestamp) = (group.dn, group.name, group.timestamp)
            members = PackedByteStrings(capacity: group.members.count)
            for member in group.members {
                switch member {
                case .dn(let key): members.append { $0.writeByte(0); $0.writeBytes(key.utf8) }
                case .key(let key): members.append { $0.writeByte(1); $0.writeBytes(key.utf8) }
                }
            }
        }
    }

    /// The record of a packed group (its members sorted in place), after `tag` when given.
    static func encode(_ group: inout PackedGroup, tag: UInt8? = nil) -> [UInt8] {
        var writer = ByteWriter(capacity: 64 + group.members.count * 48)
        if let tag { writer.writeByte(tag) }
        writer.writeByte(version)
        writer.writeLengthPrefixed(group.dn)
        writer.writeLengthPrefixed(group.name)
        writer.writeCount(group.members.count)
        // In one order whatever the set's: DN references before keys, each by its bytes.
        group.members.sort()
        group.members.forEach { member in
            writer.writeByte(member[0])
            writer.writeLengthPrefixed(UnsafeRawBufferPointer(rebasing: member[1...]))
        }
        writeTimestamp(group.timestamp, to: &writer)
        return writer.bytes
    }

    static func decodeGroup(_ bytes: [UInt8]) throws(RecordDecodingError) -> GroupRecord {
        var reader = ByteReader(bytes)
        try expectVersion(&reader)
        let dn = try reader.readLengthPrefixedString()
        let name = try reader.readLengthPrefixedString()
        var members: Set<MemberReference> = []
        let count = try reader.readCount(minimumItemSize: 2)
        members.reserveCapacity(count)
        for _ in 0..<count {
            let kind = try reader.readByte()
            let text = try reader.readLengthPrefixedString()
            switch kind {
            case 0: members.insert(.dn(text))
            case 1: members.insert(.key(text))
            default: throw RecordDecodingError(.unsupportedVersion, at: reader.offset)
            }
        }
        let timestamp = try readTimestamp(&reader)
        try reader.expectEnd()
        return GroupRecord(dn: dn, name: name, members: members, timestamp: timestamp)
    }

    // MARK: Cursor

    static func encode(_ cursor: CursorRecord) -> [UInt8] {
        var writer = ByteWriter(capacity: 128)
        writer.writeByte(version)
        writeTimestamp(cursor.cursor, to: &writer)
        writer.writeVarint(UInt64(max(0, cursor.lastReadDuration.components.seconds)))
        writer.writeVarint(UInt64(max(0, cursor.lastReadDuration.components.attoseconds / 1_000_000_000)))
        writer.writeCount(cursor.mappingItems.count)
        for item in cursor.mappingItems.sorted() { writer.writeLengthPrefixed(item) }
        // Added after the first release: a record without it decodes as nil.
        writeTimestamp(cursor.appEditsSince, to: &writer)
        if cursor.appEditsSince != nil { writer.writeLengthPrefixed(cursor.appEditsConfiguration) }
        // Added later still: absent (no cookie) in older records.
        if let contentSync = cursor.contentSync {
            writer.writeByte(1)
            writer.writeLengthPrefixed(contentSync.search)
            writer.writeLengthPrefixed(contentSync.cookie)
        }
        return writer.bytes
    }

    static func decodeCursor(_ bytes: [UInt8]) throws(RecordDecodingError) -> CursorRecord {
        var reader = ByteReader(bytes)
        try expectVersion(&reader)
        let cursor = try readTimestamp(&reader)
        let seconds = try reader.readVarint()
        let nanoseconds = try reader.readVarint()
        var items: Set<String> = []
        for _ in 0..<(try reader.readCount()) { items.insert(try reader.readLengthPrefixedString()) }
        let appEditsSince = reader.isAtEnd ? nil : try readTimestamp(&reader)
        let appEditsConfiguration = appEditsSince == nil ? "" : try reader.readLengthPrefixedString()
        var contentSync: ContentSyncCookie?
        if !reader.isAtEnd {
            guard try reader.readByte() == 1 else { throw RecordDecodingError(.trailingBytes, at: reader.offset - 1) }
            let search = try reader.readLengthPrefixedString()
            contentSync = ContentSyncCookie(search: search, cookie: try reader.readLengthPrefixedBytes())
        }
        try reader.expectEnd()
        let duration = Duration.seconds(Int64(clamping: seconds)) + .nanoseconds(Int64(clamping: nanoseconds))
        return CursorRecord(cursor: cursor, lastReadDuration: duration, mappingItems: items,
                            appEditsSince: appEditsSince, appEditsConfiguration: appEditsConfiguration,
                            contentSync: contentSync)
    }

    // MARK: Retry set and run history

    static func encode(_ retry: RetryRecord) -> [UInt8] {
        var writer = ByteWriter(capacity: 128)
        writer.writeByte(version)
        writer.writeLengthPrefixed(retry.key ?? "")
        writer.writeLengthPrefixed(retry.dn ?? "")
        writer.writeLengthPrefixed(retry.message)
        writer.writeVarint(UInt64(retry.attempts))
        writeTimestamp(retry.firstFailure, to: &writer)
        return writer.bytes
    }

    static func decodeRetry(_ bytes: [UInt8]) throws(RecordDecodingError) -> RetryRecord {
        var reader = ByteReader(bytes)
        try expectVersion(&reader)
        let key = try reader.readLengthPrefixedString()
        let dn = try reader.readLengthPrefixedString()
        let message = try reader.readLengthPrefixedString()
        let attempts = Int(clamping: try reader.readVarint())
        let first = try readTimestamp(&reader)
        try reader.expectEnd()
        return RetryRecord(key: key.isEmpty ? nil : key, dn: dn.isEmpty ? nil : dn, message: message,
                           attempts: attempts, firstFailure: first)
    }

    static func encode(_ run: RunRecord) -> [UInt8] {
        var writer = ByteWriter(capacity: 128)
        writer.writeByte(version)
        writer.writeLengthPrefixed(run.directory)
        writeTimestamp(run.started, to: &writer)
        writer.writeVarint(UInt64(max(0, run.durationMilliseconds)))
        writer.writeVarint(UInt64(run.exitCode))
        writer.writeByte(run.full ? 1 : 0)
        writer.writeCount(run.counts.count)
        for (name, value) in run.counts.sorted(by: { $0.key < $1.key }) {
            writer.writeLengthPrefixed(name)
            writer.writeVarint(UInt64(max(0, value)))
        }
        return writer.bytes
    }

    static func decodeRun(_ bytes: [UInt8]) throws(RecordDecodingError) -> RunRecord {
        var reader = ByteReader(bytes)
        try expectVersion(&reader)
        let directory = try reader.readLengthPrefixedString()
        let started = try readTimestamp(&reader)
        let duration = Int(clamping: try reader.readVarint())
        let exitCode = Int32(clamping: try reader.readVarint())
        let full = try reader.readByte() == 1
        var counts: [String: Int] = [:]
        for _ in 0..<(try reader.readCount()) {
            counts[try reader.readLengthPrefixedString()] = Int(clamping: try reader.readVarint())
        }
        try reader.expectEnd()
        return RunRecord(directory: directory, started: started ?? Timestamp(seconds: 0), durationMilliseconds: duration,
                         exitCode: exitCode, full: full, counts: counts)
    }

    // MARK: Conflicts

    static func encode(_ conflict: ConflictRecord) -> [UInt8] {
        var writer = ByteWriter(capacity: 128)
        writer.writeByte(version)
        writer.writeLengthPrefixed(conflict.key)
        writer.writeLengthPrefixed(conflict.attribute)
        writer.writeLengthPrefixed(conflict.ldap)
        writer.writeLengthPrefixed(conflict.app)
        writer.writeByte(conflict.resolution.map { $0 ? 1 : 2 } ?? 0)
        writeTimestamp(conflict.since, to: &writer)
        return writer.bytes
    }

    static func decodeConflict(_ bytes: [UInt8]) throws(RecordDecodingError) -> ConflictRecord {
        var reader = ByteReader(bytes)
        try expectVersion(&reader)
        let key = try reader.readLengthPrefixedString()
        let attribute = try reader.readLengthPrefixedString()
        let ldap = try reader.readLengthPrefixedString()
        let app = try reader.readLengthPrefixedString()
        let resolution: Bool? = switch try reader.readByte() {
        case 1: true
        case 2: false
        default: nil
        }
        let since = try readTimestamp(&reader)
        try reader.expectEnd()
        return ConflictRecord(key: key, attribute: attribute, ldap: ldap, app: app, resolution: resolution, since: since)
    }

    // MARK: Two-phase commit (SPEC I1)

    static func encode(_ inflight: InflightRecord) -> [UInt8] {
        var writer = ByteWriter(capacity: 64)
        writer.writeByte(version)
        writer.writeLengthPrefixed(inflight.runID)
        writer.writeByte(inflight.writesApp ? 1 : 0)
        if let cursor = inflight.cursorBefore {
            writer.writeByte(1)
            writer.writeLengthPrefixed(cursor)
        } else {
            writer.writeByte(0)
        }
        return writer.bytes
    }

    static func decodeInflight(_ bytes: [UInt8]) throws(RecordDecodingError) -> InflightRecord {
        var reader = ByteReader(bytes)
        try expectVersion(&reader)
        let runID = try reader.readLengthPrefixedString()
        let writesApp = try reader.readByte() == 1
        let cursor = try reader.readByte() == 1 ? try reader.readLengthPrefixedBytes() : nil
        try reader.expectEnd()
        return InflightRecord(runID: runID, writesApp: writesApp, cursorBefore: cursor)
    }

    static func encode(_ record: InDoubtRecord) -> [UInt8] {
        var writer = ByteWriter(capacity: 128)
        writer.writeByte(version)
        writer.writeLengthPrefixed(record.runID)
        writer.writeLengthPrefixed(record.dn)
        writer.writeLengthPrefixed(record.key)
        writeValues(record.values, to: &writer)
        return writer.bytes
    }

    static func decodeInDoubt(_ bytes: [UInt8]) throws(RecordDecodingError) -> InDoubtRecord {
        var reader = ByteReader(bytes)
        try expectVersion(&reader)
        let runID = try reader.readLengthPrefixedString()
        let dn = try reader.readLengthPrefixedString()
        let key = try reader.readLengthPrefixedString()
        let values = try readValues(&reader)
        try reader.expectEnd()
        return InDoubtRecord(runID: runID, dn: dn, key: key, values: values)
    }

    // MARK: Pieces

    private static func expectVersion(_ reader: inout ByteReader) throws(RecordDecodingError) {
        let found = try reader.readByte()
        guard found == version else { throw RecordDecodingError(.unsupportedVersion, at: 0) }
    }

    private static func writeValues(_ values: [AttributeName: [[UInt8]]], to writer: inout ByteWriter) {
        writer.writeCount(values.count)
        // In the order of the lower-cased names' bytes (sorting with `String`'s `<` was a
        // sixth of a first run's staging): the same values give the same bytes.
        for (name, list) in values.sorted(by: { bytesPrecede($0.key.folded, $1.key.folded) }) {
            writer.writeLengthPrefixed(name.description)
            writer.writeCount(list.count)
            for value in list { writer.writeLengthPrefixed(value) }
        }
    }

    private static func bytesPrecede(_ left: String, _ right: String) -> Bool {
        var left = left, right = right
        return left.withUTF8 { left in
            right.withUTF8 { right in
                let common = min(left.count, right.count)
                let order = common == 0 ? 0 : memcmp(left.baseAddress!, right.baseAddress!, common)
                return order != 0 ? order < 0 : left.count < right.count
            }
        }
    }

    private static func readValues(_ reader: inout ByteReader) throws(RecordDecodingError) -> [AttributeName: [[UInt8]]] {
        let count = try reader.readCount(minimumItemSize: 2)
        var values = [AttributeName: [[UInt8]]](minimumCapacity: count)
        for _ in 0..<count {
            let name = AttributeName(try reader.readLengthPrefixedString())
            let listCount = try reader.readCount()
            var list: [[UInt8]] = []
            list.reserveCapacity(listCount)
            for _ in 0..<listCount { list.append(try reader.readLengthPrefixedBytes()) }
            values[name] = list
        }
        return values
    }

    private static func writeTimestamp(_ timestamp: Timestamp?, to writer: inout ByteWriter) {
        guard let timestamp else { writer.writeByte(0); return }
        writer.writeByte(1)
        writer.writeVarint(UInt64(bitPattern: timestamp.seconds))
        writer.writeVarint(UInt64(timestamp.nanoseconds))
    }

    private static func readTimestamp(_ reader: inout ByteReader) throws(RecordDecodingError) -> Timestamp? {
        guard try reader.readByte() == 1 else { return nil }
        let seconds = Int64(bitPattern: try reader.readVarint())
        let nanoseconds = try reader.readVarint()
        guard nanoseconds < 1_000_000_000 else { throw RecordDecodingError(.malformedVarint, at: reader.offset) }
        return Timestamp(seconds: seconds, nanoseconds: Int32(nanoseconds))
    }
}

/// A directory's cursor and what the snapshot has seen of the mapping.
struct CursorRecord: Sendable, Equatable {
    /// The newest server timestamp read (nil: the next run is a full run).
    var cursor: Timestamp?
    /// How long the previous run's read phase took (SPEC I2: the next search reaches back
    /// that far as well as the overlap).
    var lastReadDuration: Duration
    /// The mapping items the snapshot covers (attributes, group rules, scopes); a new
    /// item forces one full run (SPEC §4).
    var mappingItems: Set<String>
    /// When the run that wrote the record started (ldapsync's clock): every app edit
    /// before it was merged by that run or an earlier one, so with `app.findEdits:
    /// updated-at` the next run compares only rows updated since (less the overlap).
    /// nil in records of older versions and after `cursor clear/set`.
    var appEditsSince: Timestamp? = nil
    /// What decides whether an app edit is written or stays pending (write-back switches,
    /// directions, conflict policies) when `appEditsSince` was recorded: an edit left
    /// pending then must be compared again once it changes.
    var appEditsConfiguration = ""
    /// The RFC 4533 cookie for the next `deletions: every-run` listing (nil: none yet).
    var contentSync: ContentSyncCookie? = nil
}

/// A content-synchronization cookie and the search it belongs to: a cookie is used only
/// with the same server and scope (``DirectoryRun`` compares `search`).
struct ContentSyncCookie: Sendable, Equatable {
    /// The server URL, base, scope and filter the cookie was taken with.
    var search: String
    var cookie: [UInt8]
}

/// A run that prepared its commit (SPEC I1): everything it will commit is staged and
/// flushed, and it is about to write the app store and LDAP. Its state commit removes the
/// record; a record found at the start of a run names a run that died in between.
struct InflightRecord: Sendable, Equatable {
    var runID: String
    /// false: the run had no app changes, only LDAP writes (nothing to find in the app).
    var writesApp: Bool
    /// The directory's cursor record (its bytes) when the run read it: on recovery the
    /// dead run's cursor is taken only if the cursor is still this one (not set or
    /// cleared by an administrator since).
    var cursorBefore: [UInt8]?
}

/// Write-back values a run sent, or was about to send, when it died: whether they reached
/// LDAP is decided when the next run reads the entry (LDAP holds them, or not).
struct InDoubtRecord: Sendable, Equatable {
    var runID: String
    var dn: String
    var key: String
    /// The values the run wrote, in the snapshot's (agreed) form, by LDAP attribute.
    var values: [AttributeName: [[UInt8]]]
}

/// A manual conflict waiting for an administrator (`ldapsync conflicts`).
public struct ConflictRecord: Sendable, Equatable {
    public var key: String
    /// The LDAP attribute name.
    public var attribute: String
    /// Display forms of both sides' values (redacted for sensitive attributes).
    public var ldap: String
    public var app: String
    /// The administrator's decision: true takes LDAP's value, false the app's; nil while
    /// pending. Applied by the next run, which then forgets the conflict.
    public var resolution: Bool?
    public var since: Timestamp?
}

/// An entry whose write failed; re-evaluated on the next run (I3).
struct RetryRecord: Sendable, Equatable {
    var key: String?
    var dn: String?
    var message: String
    var attempts: Int
    var firstFailure: Timestamp?
}

/// One finished run, for `ldapsync status`.
public struct RunRecord: Sendable, Equatable {
    public var directory: String
    public var started: Timestamp
    public var durationMilliseconds: Int
    public var exitCode: Int32
    public var full: Bool
    public var counts: [String: Int]

    /// When the run ended (its start plus its duration, to the millisecond).
    public var finished: Timestamp {
        let nanoseconds = Int64(started.nanoseconds) + Int64(durationMilliseconds % 1000) * 1_000_000
        return Timestamp(seconds: started.seconds + Int64(durationMilliseconds / 1000) + nanoseconds / 1_000_000_000,
                         nanoseconds: Int32(nanoseconds % 1_000_000_000))
    }
}

/// The app changes a run stages in LMDB until its one app transaction, so that memory
/// holds a batch of them, not the run's.
enum AppChangeRecords {
    static func encode(_ changes: [AppChange]) -> [UInt8] {
        var writer = ByteWriter(capacity: 64 * changes.count)
        writer.writeByte(StateRecords.version)
        writer.writeCount(changes.count)
        for change in changes {
            switch change {
            case .create(let user):
                writer.writeByte(0)
                writer.writeLengthPrefixed(user.key)
                writer.writeByte((user.managed ? 1 : 0) | (user.active ? 2 : 0))
                writeValues(user.values, to: &writer)
            case .update(let key, let values):
                writer.writeByte(1)
                writer.writeLengthPrefixed(key)
                writeValues(values, to: &writer)
            case .setManaged(let key, let managed):
                writer.writeByte(2); writer.writeLengthPrefixed(key); writer.writeByte(managed ? 1 : 0)
            case .setActive(let key, let active):
                writer.writeByte(3); writer.writeLengthPrefixed(key); writer.writeByte(active ? 1 : 0)
            case .rename(let from, let to):
                writer.writeByte(4); writer.writeLengthPrefixed(from); writer.writeLengthPrefixed(to)
            case .addMembership(let user, let group):
                writer.writeByte(5); writer.writeLengthPrefixed(user); writer.writeLengthPrefixed(group)
            case .removeMembership(let user, let group):
                writer.writeByte(6); writer.writeLengthPrefixed(user); writer.writeLengthPrefixed(group)
            }
        }
        return writer.bytes
    }

    static func decode(_ bytes: [UInt8]) throws(RecordDecodingError) -> [AppChange] {
        var reader = ByteReader(bytes)
        guard try reader.readByte() == StateRecords.version else { throw RecordDecodingError(.unsupportedVersion, at: 0) }
        var changes: [AppChange] = []
        let count = try reader.readCount(minimumItemSize: 2)
        changes.reserveCapacity(count)
        for _ in 0..<count {
            let tag = try reader.readByte()
            switch tag {
            case 0:
                let key = try reader.readLengthPrefixedString()
                let flags = try reader.readByte()
                changes.append(.create(AppUser(key: key, managed: flags & 1 != 0, active: flags & 2 != 0, values: try readValues(&reader))))
            case 1:
                let key = try reader.readLengthPrefixedString()
                changes.append(.update(key: key, values: try readValues(&reader)))
            case 2:
                let key = try reader.readLengthPrefixedString()
                changes.append(.setManaged(key: key, try reader.readByte() == 1))
            case 3:
                let key = try reader.readLengthPrefixedString()
                changes.append(.setActive(key: key, try reader.readByte() == 1))
            case 4:
                let from = try reader.readLengthPrefixedString()
                changes.append(.rename(from: from, to: try reader.readLengthPrefixedString()))
            case 5:
                let user = try reader.readLengthPrefixedString()
                changes.append(.addMembership(user: user, group: try reader.readLengthPrefixedString()))
            case 6:
                let user = try reader.readLengthPrefixedString()
                changes.append(.removeMembership(user: user, group: try reader.readLengthPrefixedString()))
            default:
                throw RecordDecodingError(.unsupportedVersion, at: reader.offset)
            }
        }
        try reader.expectEnd()
        return changes
    }

    private static func writeValues(_ values: [String: AppValue], to writer: inout ByteWriter) {
        writer.writeCount(values.count)
        for (column, value) in values.sorted(by: { $0.key < $1.key }) {
            writer.writeLengthPrefixed(column)
            switch value {
            case .null: writer.writeByte(0)
            case .text(let text): writer.writeByte(1); writer.writeLengthPrefixed(text)
            case .integer(let number): writer.writeByte(2); writer.writeVarint(UInt64(bitPattern: number))
            case .blob(let bytes): writer.writeByte(3); writer.writeLengthPrefixed(bytes)
            }
        }
    }

    private static func readValues(_ reader: inout ByteReader) throws(RecordDecodingError) -> [String: AppValue] {
        let count = try reader.readCount(minimumItemSize: 2)
        var values = [String: AppValue](minimumCapacity: count)
        for _ in 0..<count {
            let column = try reader.readLengthPrefixedString()
            switch try reader.readByte() {
            case 0: values[column] = .null
            case 1: values[column] = .text(try reader.readLengthPrefixedString())
            case 2: values[column] = .integer(Int64(bitPattern: try reader.readVarint()))
            case 3: values[column] = .blob(try reader.readLengthPrefixedBytes())
            default: throw RecordDecodingError(.unsupportedVersion, at: reader.offset)
            }
        }
        return values
    }
}
