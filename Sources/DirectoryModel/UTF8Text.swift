/// `String(validating:as: UTF8.self)` without its cost on Linux: the standard library's
/// validating initializer is generic and asks the runtime for type metadata on every
/// call (about 400 instructions, measured with callgrind), which the read, decide and
/// commit paths pay several times per user. Decoding with repair is not generic; the
/// bytes were valid exactly when the repaired string's UTF-8 is the input unchanged.
public enum UTF8Text {
    /// The bytes as a `String`, or nil when they are not valid UTF-8.
    @inlinable
    public static func string(_ bytes: [UInt8]) -> String? {
        bytes.withUnsafeBufferPointer { string($0) }
    }

    /// The bytes as a `String`, or nil when they are not valid UTF-8.
    @inlinable
    public static func string(_ bytes: UnsafeRawBufferPointer) -> String? {
        string(bytes.assumingMemoryBound(to: UInt8.self))
    }

    /// The bytes as a `String`, or nil when they are not valid UTF-8.
    public static func string(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        guard !bytes.isEmpty else { return "" }
        var text = String(decoding: bytes, as: UTF8.self)
        // Repairing replaces something, so valid input is exactly what comes back unchanged.
        let same = text.withUTF8 { decoded in
            decoded.count == bytes.count && memcmpEqual(decoded.baseAddress!, bytes.baseAddress!, bytes.count)
        }
        return same ? text : nil
    }

    /// Whether the bytes are valid UTF-8 (ASCII is checked without making a string).
    public static func isValid(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var ascii = true
        for byte in bytes where byte >= 0x80 { ascii = false; break }
        return ascii || string(bytes) != nil
    }

    private static func memcmpEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ count: Int) -> Bool {
        var index = 0
        // Eight bytes at a time, then the rest.
        while index + 8 <= count {
            let left = UnsafeRawPointer(a + index).loadUnaligned(as: UInt64.self)
            let right = UnsafeRawPointer(b + index).loadUnaligned(as: UInt64.self)
            if left != right { return false }
            index += 8
        }
        while index < count {
            if a[index] != b[index] { return false }
            index += 1
        }
        return true
    }
}
