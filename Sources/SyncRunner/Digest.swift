/// A 128-bit digest of an id or key, for the sets a run keeps of every user (SPEC §13:
/// bounded memory). 16 bytes inline instead of an array or string on the heap: at
/// 1,000,000 users a set of them is about 21 MB instead of about 100.
///
/// Values of at most 15 bytes are kept exactly (the length in the last byte); longer ones
/// (an `entryUUID` is 36) as two independent 64-bit SipHash values of this process, where
/// a collision among a million ids has a probability of about 10⁻²⁶.
struct Digest: Hashable, Sendable {
    private let low: UInt64
    private let high: UInt64

    init(_ bytes: some Collection<UInt8>) {
        if bytes.count <= 15 {
            var packed: (UInt64, UInt64) = (0, 0)
            withUnsafeMutableBytes(of: &packed) { raw in
                for (index, byte) in bytes.enumerated() { raw[index] = byte }
                raw[15] = UInt8(bytes.count)
            }
            (low, high) = packed
        } else {
            var first = Hasher()
            var second = Hasher()
            second.combine(0x5A5A_5A5A_5A5A_5A5A as UInt64)
            // The whole buffer at once (one call instead of one per byte).
            let contiguous = bytes.withContiguousStorageIfAvailable { buffer in
                first.combine(bytes: UnsafeRawBufferPointer(buffer))
                second.combine(bytes: UnsafeRawBufferPointer(buffer))
            }
            if contiguous == nil {
                let copy = Array(bytes)
                copy.withUnsafeBytes { buffer in
                    first.combine(bytes: buffer)
                    second.combine(bytes: buffer)
                }
            }
            low = UInt64(bitPattern: Int64(first.finalize()))
            // The marker 0xFF in the last byte keeps hashed values apart from exact ones.
            high = UInt64(bitPattern: Int64(second.finalize())) | (0xFF << 56)
        }
    }

    init(_ text: String) {
        self.init(text.utf8)
    }

    /// A well-mixed 64-bit value for open addressing (``ClaimTable``), cheaper than
    /// `Hasher`: a hashed digest's halves are SipHash values already, and an exact one's
    /// bytes are mixed with this process's random `seed` (a multiply-xorshift finalizer),
    /// so that no one can choose keys that collide.
    func mixed(seed: UInt64) -> UInt64 {
        var value = low ^ seed ^ (high &* 0x9E37_79B9_7F4A_7C15)
        value ^= value >> 32
        value &*= 0xD6E8_FEB8_6659_FD93
        value ^= value >> 32
        return value
    }
}
