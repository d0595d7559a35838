import DirectoryModel
import StateStore
import SyncEngine
import Testing
@testable import SyncRunner

/// The user snapshot record: format 2 keeps the DN key only where it differs from the
/// DN, and format 1 (every state written before it) still reads the same.
@Suite struct UserRecordTests {
    static let values: [AttributeName: [[UInt8]]] = [
        "telephoneNumber": [Array("+1 555 0100".utf8)], "cn": [Array("Ada".utf8)], "mail": [Array("a@x".utf8), Array("b@x".utf8)],
    ]
    static let ownKey = UserSnapshot(dn: "uid=ada,ou=people,dc=example,dc=com", dnKey: "uid=ada,ou=people,dc=example,dc=com", key: "ada",
                                     values: values, memberOf: ["cn=staff,dc=example,dc=com"], timestamp: Timestamp(seconds: 1_700_000_000, nanoseconds: 5))
    static let otherKey = UserSnapshot(dn: "UID=Ada, OU=People,DC=Example,DC=com", dnKey: "uid=ada,ou=people,dc=example,dc=com", key: "ada",
                                       values: values)

    /// A record as format 1 wrote it: the DN key always follows the DN.
    static func formatOne(_ snapshot: UserSnapshot) -> [UInt8] {
        var writer = ByteWriter(capacity: 256)
        writer.writeByte(1)
        writer.writeLengthPrefixed(snapshot.dn)
        writer.writeLengthPrefixed(snapshot.dnKey)
        writer.writeLengthPrefixed(snapshot.key)
        writer.writeCount(snapshot.values.count)
        for (name, list) in snapshot.values.sorted(by: { $0.key.folded < $1.key.folded }) {
            writer.writeLengthPrefixed(name.description)
            writer.writeCount(list.count)
            for value in list { writer.writeLengthPrefixed(value) }
        }
        writer.writeCount(snapshot.memberOf.count)
        for group in snapshot.memberOf { writer.writeLengthPrefixed(group) }
        if let timestamp = snapshot.timestamp {
            writer.writeByte(1)
            writer.writeVarint(UInt64(bitPattern: timestamp.seconds))
            writer.writeVarint(UInt64(timestamp.nanoseconds))
        } else {
            writer.writeByte(0)
        }
        return writer.bytes
    }

    @Test(arguments: [ownKey, otherKey])
    func bothFormatsDecodeToTheSnapshotAndIndexTheSameKeys(snapshot: UserSnapshot) throws {
        let old = Self.formatOne(snapshot), new = StateRecords.encode(snapshot)
        #expect(old.first == 1 && new.first == 2)
        for record in [old, new] {
            #expect(try StateRecords.decodeUser(record) == snapshot)
            let (dnKey, key) = try StateRecords.userIndexKeys(record)
            #expect(String(decoding: record[dnKey], as: UTF8.self) == snapshot.dnKey)
            #expect(String(decoding: record[key], as: UTF8.self) == snapshot.key)
        }
        // The DN key is left out exactly when it is the DN.
        let saved = snapshot.dnKey == snapshot.dn ? snapshot.dnKey.utf8.count : -1
        #expect(old.count - new.count == saved)
    }

    @Test func theSameSnapshotGivesTheSameBytes() {
        var reordered = Self.ownKey
        reordered.values = [:]
        for (name, list) in Self.values.sorted(by: { $0.key.folded > $1.key.folded }) { reordered.values[name] = list }
        #expect(StateRecords.encode(reordered) == StateRecords.encode(Self.ownKey))
    }

    @Test func aDamagedFlagOrAnUnknownFormatIsAnError() {
        var damaged = StateRecords.encode(Self.ownKey)
        let flag = 1 + 1 + Self.ownKey.dn.utf8.count
        #expect(damaged[flag] == 0)
        damaged[flag] = 7
        #expect(throws: RecordDecodingError(.invalidFlag, at: flag)) { try StateRecords.decodeUser(damaged) }
        #expect(throws: RecordDecodingError(.invalidFlag, at: flag)) { try StateRecords.userIndexKeys(damaged) }
        var future = StateRecords.encode(Self.ownKey)
        future[0] = 3
        #expect(throws: RecordDecodingError(.unsupportedVersion, at: 0)) { try StateRecords.decodeUser(future) }
    }
}
