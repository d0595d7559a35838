#if canImport(Glibc)
import Glibc
#endif
import StateStore

/// Byte strings one after the other in one buffer, sorted by their bytes as (start,
/// length) pairs: sorting millions of arrays or Strings costs mostly their reference
/// counting and, for Strings, Unicode comparison.
struct PackedByteStrings {
    private var buffer = ByteWriter()
    private var slices: [(start: Int, count: Int)] = []

    init(capacity: Int = 0) {
        slices.reserveCapacity(capacity)
    }

    var count: Int { slices.count }

    /// Adds one string: the bytes `body` writes.
    mutating func append(_ body: (inout ByteWriter) -> Void) {
        let start = buffer.bytes.count
        body(&buffer)
        slices.append((start, buffer.bytes.count - start))
    }

    /// Sorts the strings by their bytes (a string before those it is a prefix of).
    mutating func sort() {
        buffer.bytes.withUnsafeBytes { buffer in
            slices.sort { left, right in
                let common = min(left.count, right.count)
                let order = common == 0 ? 0 : memcmp(buffer.baseAddress! + left.start, buffer.baseAddress! + right.start, common)
                return order != 0 ? order < 0 : left.count < right.count
            }
        }
    }

    /// Calls `body` with each string, in order.
    func forEach(_ body: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        try buffer.bytes.withUnsafeBytes { buffer in
            for slice in slices { try body(UnsafeRawBufferPointer(rebasing: buffer[slice.start..<slice.start + slice.count])) }
        }
    }
}
