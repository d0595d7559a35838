public import DirectoryModel

/// The stored form of a ``DirectoryModel/Entry``: compact, versioned binary.
///
/// Format version 1 (varints are unsigned LEB128 in their shortest form, see
/// ``ByteWriter``):
///
/// ```
/// version        1 byte, = 1
/// dn             varint length, UTF-8 bytes
/// attributeCount varint
/// attributeCount times:
///   name         varint length, UTF-8 bytes (the description as written, with options)
///   valueCount   varint
///   valueCount times:
///     value      varint length, bytes (any bytes)
/// ```
///
/// Attributes and values keep their order. Decoding checks every byte: a truncated or
/// corrupted record throws ``RecordDecodingError``, it never traps.
public enum EntryRecord {
    public static let formatVersion: UInt8 = 1

    public static func encode(_ entry: Entry) -> [UInt8] {
        let size = encodedSize(entry)
        var writer = ByteWriter(capacity: size)
        writer.writeByte(formatVersion)
        writer.writeLengthPrefixed(entry.dn)
        writer.writeCount(entry.attributes.count)
        for attribute in entry.attributes {
            writer.writeLengthPrefixed(attribute.name.description)
            writer.writeCount(attribute.values.count)
            for value in attribute.values {
                writer.writeLengthPrefixed(value)
            }
        }
        assert(writer.bytes.count == size, "encodedSize disagrees with encode")
        return writer.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(RecordDecodingError) -> Entry {
        var reader = ByteReader(bytes)
        let version = try reader.readByte()
        guard version == formatVersion else { throw RecordDecodingError(.unsupportedVersion, at: 0) }
        let dn = try reader.readLengthPrefixedString()
        // An attribute takes at least 2 bytes (empty name, zero values), a value at least 1
        // (its length): counts are bounded by the input before anything is reserved.
        let attributeCount = try reader.readCount(minimumItemSize: 2)
        var attributes: [Attribute] = []
        attributes.reserveCapacity(attributeCount)
        for _ in 0..<attributeCount {
            let name = try reader.readLengthPrefixedString()
            let valueCount = try reader.readCount(minimumItemSize: 1)
            var values: [[UInt8]] = []
            values.reserveCapacity(valueCount)
            for _ in 0..<valueCount {
                values.append(try reader.readLengthPrefixedBytes())
            }
            attributes.append(Attribute(AttributeName(name), values: values))
        }
        try reader.expectEnd()
        return Entry(dn: dn, attributes: attributes)
    }

    /// The exact size of `encode(entry)`, so that it allocates once.
    static func encodedSize(_ entry: Entry) -> Int {
        var size = 1 + ByteWriter.lengthPrefixedSize(entry.dn.utf8.count)
        size += ByteWriter.varintSize(UInt64(entry.attributes.count))
        for attribute in entry.attributes {
            size += ByteWriter.lengthPrefixedSize(attribute.name.description.utf8.count)
            size += ByteWriter.varintSize(UInt64(attribute.values.count))
            for value in attribute.values {
                size += ByteWriter.lengthPrefixedSize(value.count)
            }
        }
        return size
    }
}
