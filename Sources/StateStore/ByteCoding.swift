import DirectoryModel

/// Why a stored record could not be decoded, and where.
///
/// Records come from disk and will be fuzzed: every problem is reported with this error,
/// never with a trap. The description names the problem and the byte offset, never the
/// record's contents.
public struct RecordDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A kind of decoding failure. A struct with named constants so that later record
    /// types can add their own.
    public struct Reason: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        /// The input ended inside a fixed-size field or a varint.
        public static let truncated = Reason(rawValue: "truncated")
        /// The format version byte names a version this build cannot read.
        public static let unsupportedVersion = Reason(rawValue: "unsupported format version")
        /// A length or count claims more bytes than remain.
        public static let lengthBeyondEnd = Reason(rawValue: "length beyond the end")
        /// A name (or DN) is not valid UTF-8.
        public static let invalidUTF8 = Reason(rawValue: "invalid UTF-8")
        /// Bytes remain after the end of the record.
        public static let trailingBytes = Reason(rawValue: "trailing bytes")
        /// A varint is longer than 10 bytes, exceeds 64 bits, or is not in its shortest form.
        public static let malformedVarint = Reason(rawValue: "malformed varint")

        public var description: String { rawValue }
    }

    public var reason: Reason
    /// The offset of the byte where the offending field starts.
    public var offset: Int

    public init(_ reason: Reason, at offset: Int) {
        self.reason = reason
        self.offset = offset
    }

    public var description: String { "invalid record: \(reason) at byte \(offset)" }
}

/// Builds a record: bytes, LEB128 varints and length-prefixed byte strings.
///
/// The counterpart of ``ByteReader``; record formats built from both are compact, need no
/// schema and decode without trusting their input.
public struct ByteWriter: Sendable {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 0) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public mutating func writeByte(_ byte: UInt8) {
        bytes.append(byte)
    }

    /// Appends bytes as they are, without a length.
    public mutating func writeBytes(_ raw: some Sequence<UInt8>) {
        bytes.append(contentsOf: raw)
    }

    /// Appends `value` as an unsigned LEB128 varint: 7 bits per byte, least significant
    /// first, high bit set on every byte but the last (1 to 10 bytes).
    public mutating func writeVarint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(truncatingIfNeeded: rest))
    }

    /// Appends a count or length (never negative) as a varint.
    public mutating func writeCount(_ count: Int) {
        precondition(count >= 0, "negative count")
        writeVarint(UInt64(count))
    }

    /// Appends the length of `raw` as a varint, then `raw`.
    public mutating func writeLengthPrefixed(_ raw: [UInt8]) {
        writeCount(raw.count)
        bytes.append(contentsOf: raw)
    }

    /// Appends the length of `raw` as a varint, then its bytes.
    public mutating func writeLengthPrefixed(_ raw: UnsafeRawBufferPointer) {
        writeCount(raw.count)
        bytes.append(contentsOf: raw)
    }

    /// Appends the length of the UTF-8 form of `string` as a varint, then that form.
    public mutating func writeLengthPrefixed(_ string: String) {
        // A native string lends its UTF-8 storage: one copy, no per-byte iteration.
        let done: Void? = string.utf8.withContiguousStorageIfAvailable { utf8 in
            writeCount(utf8.count)
            bytes.append(contentsOf: utf8)
        }
        guard done == nil else { return }
        let utf8 = string.utf8
        writeCount(utf8.count)
        bytes.append(contentsOf: utf8)
    }

    /// The number of bytes ``writeVarint(_:)`` uses for `value`.
    public static func varintSize(_ value: UInt64) -> Int {
        var size = 1
        var rest = value >> 7
        while rest != 0 {
            size += 1
            rest >>= 7
        }
        return size
    }

    /// The number of bytes a length-prefixed string of `length` bytes takes.
    public static func lengthPrefixedSize(_ length: Int) -> Int {
        precondition(length >= 0, "negative length")
        return varintSize(UInt64(length)) + length
    }
}

/// Reads a record written with ``ByteWriter``, checking every length against the bytes
/// that remain. Every failure throws ``RecordDecodingError``; nothing here traps on input.
public struct ByteReader: Sendable {
    public let bytes: [UInt8]
    /// The offset of the next byte to read.
    public private(set) var offset = 0

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// The number of bytes not yet read.
    public var remaining: Int { bytes.count - offset }
    public var isAtEnd: Bool { offset == bytes.count }

    public mutating func readByte() throws(RecordDecodingError) -> UInt8 {
        guard offset < bytes.count else { throw RecordDecodingError(.truncated, at: offset) }
        defer { offset += 1 }
        return bytes[offset]
    }

    /// Reads an unsigned LEB128 varint. Only the shortest encoding of a value is accepted,
    /// so every value has exactly one encoding.
    public mutating func readVarint() throws(RecordDecodingError) -> UInt64 {
        let start = offset
        var value: UInt64 = 0
        for index in 0..<10 {
            guard offset < bytes.count else { throw RecordDecodingError(.truncated, at: start) }
            let byte = bytes[offset]
            offset += 1
            let payload = UInt64(byte & 0x7F)
            // The tenth byte holds bit 63 only.
            if index == 9 && byte > 1 { throw RecordDecodingError(.malformedVarint, at: start) }
            value |= payload << UInt64(7 * index)
            if byte & 0x80 == 0 {
                // A last byte of zero after others means a longer form than needed.
                if byte == 0 && index > 0 { throw RecordDecodingError(.malformedVarint, at: start) }
                return value
            }
        }
        throw RecordDecodingError(.malformedVarint, at: start)
    }

    /// Reads a varint that counts items of at least `minimumItemSize` bytes each (a byte
    /// length: 1), and checks that that many items can still fit in what remains. The
    /// result is therefore safe to allocate or reserve for.
    public mutating func readCount(minimumItemSize: Int = 1) throws(RecordDecodingError) -> Int {
        precondition(minimumItemSize >= 1, "items of size zero cannot be bounded")
        let start = offset
        let value = try readVarint()
        guard value <= UInt64(remaining / minimumItemSize) else {
            throw RecordDecodingError(.lengthBeyondEnd, at: start)
        }
        return Int(value)
    }

    /// Reads exactly `count` bytes.
    public mutating func readBytes(count: Int) throws(RecordDecodingError) -> [UInt8] {
        guard count >= 0, count <= remaining else { throw RecordDecodingError(.lengthBeyondEnd, at: offset) }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    /// Reads a varint length, then that many bytes.
    public mutating func readLengthPrefixedBytes() throws(RecordDecodingError) -> [UInt8] {
        let length = try readCount()
        return try readBytes(count: length)
    }

    /// Reads a varint length, then that many bytes, which must be valid UTF-8.
    public mutating func readLengthPrefixedString() throws(RecordDecodingError) -> String {
        let start = offset
        let length = try readCount()
        guard length <= remaining else { throw RecordDecodingError(.lengthBeyondEnd, at: offset) }
        // Straight from the record's bytes, without an intermediate array.
        let from = offset
        let string = bytes.withUnsafeBufferPointer { buffer in
            UTF8Text.string(UnsafeBufferPointer(rebasing: buffer[from..<from + length]))
        }
        guard let string else { throw RecordDecodingError(.invalidUTF8, at: start) }
        offset += length
        return string
    }

    /// Reads a varint length and checks that many bytes (valid UTF-8 when `utf8`) without
    /// copying them; returns where they are in ``bytes``.
    public mutating func skipLengthPrefixed(utf8: Bool = false) throws(RecordDecodingError) -> Range<Int> {
        let start = offset
        let length = try readCount()
        guard length <= remaining else { throw RecordDecodingError(.lengthBeyondEnd, at: offset) }
        let range = offset..<offset + length
        if utf8 {
            let valid = bytes.withUnsafeBufferPointer { buffer in
                UTF8Text.isValid(UnsafeBufferPointer(rebasing: buffer[range]))
            }
            guard valid else { throw RecordDecodingError(.invalidUTF8, at: start) }
        }
        offset += length
        return range
    }

    /// Throws `.trailingBytes` unless everything has been read.
    public func expectEnd() throws(RecordDecodingError) {
        guard isAtEnd else { throw RecordDecodingError(.trailingBytes, at: offset) }
    }
}
