import DirectoryModel
import StateStore
import Testing

@Suite struct RecordCodingTests {
    static let names = [
        "cn", "mail", "objectClass", "jpegPhoto", "objectGUID", "member;range=0-1499", "userCertificate;binary",
        "MAIL", "sAMAccountName", "x-ünïcødé", "",
    ]
    static let dnParts = ["uid=jdoe", "cn=Jürgen Müller", "ou=研究開発", "dc=example", "cn=😀\\, emoji", "o=Ωmega", "dc=com"]

    /// A random entry; `small` keeps it to a few hundred bytes, for quadratic tests.
    static func randomEntry(small: Bool = false, using random: inout SeededGenerator) -> Entry {
        let dn = (0..<Int.random(in: 0...5, using: &random))
            .map { _ in dnParts.randomElement(using: &random) ?? "" }
            .joined(separator: ",")
        let attributeCount = !small && Int.random(in: 0...8, using: &random) == 0
            ? Int.random(in: 50...200, using: &random) : Int.random(in: 0...8, using: &random)
        let maxValueSize = small ? 20 : 300
        let attributes = (0..<attributeCount).map { _ in
            let values = (0..<Int.random(in: 0...6, using: &random)).map { _ -> [UInt8] in
                switch Int.random(in: 0...5, using: &random) {
                case 0: []
                case 1: [0]
                case 2: [0xFF, 0x00, 0xFF]
                default: random.bytes(count: Int.random(in: 0...maxValueSize, using: &random))
                }
            }
            return Attribute(AttributeName(names.randomElement(using: &random) ?? "cn"), values: values)
        }
        return Entry(dn: dn, attributes: attributes)
    }

    /// Entry equality ignores the case of attribute names; the record keeps their spelling.
    static func identical(_ a: Entry, _ b: Entry) -> Bool {
        a == b && a.dn.utf8.elementsEqual(b.dn.utf8)
            && a.attributes.map(\.name.description) == b.attributes.map(\.name.description)
    }

    static func decodingError(_ bytes: [UInt8]) -> RecordDecodingError? {
        do {
            _ = try EntryRecord.decode(bytes)
            return nil
        } catch {
            return error
        }
    }

    @Test func randomEntriesRoundTrip() throws {
        var random = SeededGenerator(seed: 3)
        for _ in 0..<500 {
            let entry = Self.randomEntry(using: &random)
            let encoded = EntryRecord.encode(entry)
            #expect(encoded.first == EntryRecord.formatVersion)
            let decoded = try EntryRecord.decode(encoded)
            #expect(Self.identical(decoded, entry))
        }
    }

    @Test func anEmptyEntryRoundTrips() throws {
        let entry = Entry(dn: "")
        #expect(EntryRecord.encode(entry) == [1, 0, 0])
        #expect(try EntryRecord.decode([1, 0, 0]) == entry)
    }

    @Test func everyTruncationOfAValidRecordFailsToDecode() {
        var random = SeededGenerator(seed: 4)
        var decodedTruncations: [Int] = []
        for _ in 0..<100 {
            let encoded = EntryRecord.encode(Self.randomEntry(small: true, using: &random))
            for length in 0..<encoded.count where Self.decodingError(Array(encoded.prefix(length))) == nil {
                decodedTruncations.append(length)
            }
        }
        #expect(decodedTruncations.isEmpty)
    }

    @Test func truncationsReportTruncatedOrLengthBeyondEnd() {
        let encoded = EntryRecord.encode(Entry(dn: "cn=x", attributes: [Attribute("cn", strings: ["x", "y"])]))
        for length in 0..<encoded.count {
            let reason = Self.decodingError(Array(encoded.prefix(length)))?.reason
            #expect(reason == .truncated || reason == .lengthBeyondEnd, "length \(length)")
        }
    }

    @Test(arguments: [0 as UInt8, 2, 0x7F, 0xFF])
    func anUnknownVersionByteIsRejected(version: UInt8) {
        var encoded = EntryRecord.encode(Entry(dn: "cn=x", attributes: [Attribute("cn", strings: ["x"])]))
        encoded[0] = version
        #expect(Self.decodingError(encoded) == RecordDecodingError(.unsupportedVersion, at: 0))
    }

    @Test func trailingBytesAreRejected() {
        let encoded = EntryRecord.encode(Entry(dn: "cn=x"))
        #expect(Self.decodingError(encoded + [0]) == RecordDecodingError(.trailingBytes, at: encoded.count))
    }

    static func record(dn: [UInt8], name: [UInt8]) -> [UInt8] {
        var writer = ByteWriter()
        writer.writeByte(1)
        writer.writeLengthPrefixed(dn)
        writer.writeCount(1)
        writer.writeLengthPrefixed(name)
        writer.writeCount(0)
        return writer.bytes
    }

    @Test(arguments: [[0xC3, 0x28], [0xFF], [0xED, 0xA0, 0x80], [0xC0, 0xAF], [0x61, 0xE2, 0x82]] as [[UInt8]])
    func invalidUTF8InANameOrDNIsRejected(invalid: [UInt8]) {
        #expect(Self.decodingError(Self.record(dn: bytes("cn=x"), name: invalid)) == RecordDecodingError(.invalidUTF8, at: 7))
        #expect(Self.decodingError(Self.record(dn: invalid, name: bytes("cn"))) == RecordDecodingError(.invalidUTF8, at: 1))
    }

    @Test func lengthsAndCountsBeyondTheEndAreRejectedBeforeAllocating() {
        // A DN claiming 100 bytes where 3 remain.
        #expect(Self.decodingError([1, 100, 0x61, 0x62, 0x63]) == RecordDecodingError(.lengthBeyondEnd, at: 1))
        // Counts near 2^64: rejected without reserving memory for them.
        var writer = ByteWriter()
        writer.writeByte(1)
        writer.writeLengthPrefixed("")
        writer.writeVarint(.max)
        #expect(Self.decodingError(writer.bytes) == RecordDecodingError(.lengthBeyondEnd, at: 2))

        writer = ByteWriter()
        writer.writeByte(1)
        writer.writeLengthPrefixed("")
        writer.writeCount(1)
        writer.writeLengthPrefixed("cn")
        writer.writeVarint(UInt64(Int.max))
        #expect(Self.decodingError(writer.bytes) == RecordDecodingError(.lengthBeyondEnd, at: 6))
    }

    @Test func randomCorruptionIsRejectedOrDecodesCanonically() {
        var random = SeededGenerator(seed: 6)
        let records = (0..<50).map { _ in EntryRecord.encode(Self.randomEntry(small: true, using: &random)) }
        var nonCanonical = 0
        for _ in 0..<20_000 {
            var corrupted = records.randomElement(using: &random) ?? []
            guard !corrupted.isEmpty else { continue }
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                corrupted[Int.random(in: 0..<corrupted.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
            }
            if let decoded = try? EntryRecord.decode(corrupted), EntryRecord.encode(decoded) != corrupted {
                nonCanonical += 1
            }
        }
        #expect(nonCanonical == 0)
    }

    @Test func randomBytesNeverCrashTheDecoder() {
        var random = SeededGenerator(seed: 8)
        for _ in 0..<20_000 {
            var input = random.bytes(count: Int.random(in: 0...64, using: &random))
            if !input.isEmpty { input[0] = 1 }
            _ = try? EntryRecord.decode(input)
        }
    }

    @Test func aMillionValueEntryRoundTripsThroughTheStore() throws {
        let values = (0..<1_000_000).map { index -> [UInt8] in
            index % 10 == 0 ? [] : withUnsafeBytes(of: UInt32(index).littleEndian) { Array($0) }
        }
        let entry = Entry(dn: "cn=big,dc=example,dc=com", attributes: [Attribute("member", values: values), Attribute("cn", strings: ["big"])])
        let encoded = EntryRecord.encode(entry)
        try withTestStore { env, db in
            try env.write { txn in try txn.put(encoded, forKey: bytes("big"), in: db) }
            let stored = try env.read { txn in try txn.get(bytes("big"), in: db) }
            #expect(stored == encoded)
            #expect(try Self.identical(EntryRecord.decode(stored ?? []), entry))
        }
    }

    @Test func aFiveMegabyteValueRoundTripsThroughAGrowingStore() throws {
        var random = SeededGenerator(seed: 9)
        let photo = random.bytes(count: 5 << 20)
        let entry = Entry(dn: "uid=jdoe,ou=people,dc=example,dc=com", attributes: [Attribute("jpegPhoto", values: [photo])])
        try withTestStore(mapSize: 256 << 10) { env, db in
            try env.write { txn in try txn.put(EntryRecord.encode(entry), forKey: bytes("jdoe"), in: db) }
            let decoded = try env.read { txn in
                try txn.withValue(bytes("jdoe"), in: db) { try EntryRecord.decode(Array($0)) }
            }
            #expect(decoded.map { Self.identical($0, entry) } == true)
        }
    }
}

@Suite struct ByteCodingTests {
    static let edgeValues: [UInt64] = [0, 1, 127, 128, 255, 16_383, 16_384, 1 << 32, UInt64(Int.max), .max - 1, .max]

    @Test(arguments: edgeValues)
    func varintsRoundTripInTheirShortestForm(value: UInt64) throws {
        var writer = ByteWriter()
        writer.writeVarint(value)
        #expect(writer.bytes.count == ByteWriter.varintSize(value))
        var reader = ByteReader(writer.bytes)
        #expect(try reader.readVarint() == value)
        #expect(reader.isAtEnd)
    }

    @Test func varintsUseSevenBitsPerByteLeastSignificantFirst() {
        var writer = ByteWriter()
        writer.writeVarint(300)
        writer.writeVarint(.max)
        #expect(writer.bytes == [0xAC, 0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
    }

    static let malformed: [([UInt8], RecordDecodingError.Reason)] = [
        ([], .truncated),
        ([0x80], .truncated),
        ([0xFF, 0xFF], .truncated),
        ([0x80, 0x00], .malformedVarint),  // zero in two bytes
        ([0xAC, 0x82, 0x00], .malformedVarint),  // 300 in three bytes
        ([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02], .malformedVarint),  // 2^64
        ([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x81, 0x00], .malformedVarint),  // 11 bytes
    ]

    @Test(arguments: malformed)
    func malformedVarintsAreRejected(input: [UInt8], reason: RecordDecodingError.Reason) {
        var reader = ByteReader(input)
        #expect(throws: RecordDecodingError(reason, at: 0)) { try reader.readVarint() }
    }

    @Test func lengthPrefixedBytesAndStringsRoundTrip() throws {
        var writer = ByteWriter()
        writer.writeLengthPrefixed([0, 0xFF, 0])
        writer.writeLengthPrefixed("Grüße, 世界")
        writer.writeLengthPrefixed([UInt8](repeating: 7, count: 200))
        writer.writeLengthPrefixed("")
        var reader = ByteReader(writer.bytes)
        #expect(try reader.readLengthPrefixedBytes() == [0, 0xFF, 0])
        #expect(try reader.readLengthPrefixedString() == "Grüße, 世界")
        #expect(try reader.readLengthPrefixedBytes() == [UInt8](repeating: 7, count: 200))
        #expect(try reader.readLengthPrefixedString() == "")
        try reader.expectEnd()
    }

    @Test func countsAreBoundedByTheBytesThatRemain() throws {
        var reader = ByteReader([4, 1, 2, 3, 4])
        #expect(try reader.readCount(minimumItemSize: 1) == 4)
        reader = ByteReader([3, 1, 2, 3, 4])
        #expect(throws: RecordDecodingError(.lengthBeyondEnd, at: 0)) { try reader.readCount(minimumItemSize: 2) }
    }
}
