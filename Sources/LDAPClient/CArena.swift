#if canImport(Glibc)
import Glibc
#endif

/// Owns the C memory built for one libldap call (LDAPMod arrays, bervals, control
/// arrays, C strings) and frees all of it at once.
///
/// libldap encodes a request into its own buffer before `ldap_*_ext` returns, so an
/// arena may be freed right after the call, also for asynchronous operations.
final class CArena {
    private var blocks: [UnsafeMutableRawPointer] = []

    deinit {
        for block in blocks { free(block) }
    }

    /// Uninitialized, zero-filled storage for `count` values of `T` (at least one).
    func allocate<T>(_ type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        let size = MemoryLayout<T>.stride * max(count, 1)
        guard let raw = calloc(1, size) else { fatalError("out of memory allocating \(size) bytes") }
        blocks.append(raw)
        return raw.bindMemory(to: T.self, capacity: max(count, 1))
    }

    /// A NUL-terminated copy of a string.
    func cString(_ string: String) -> UnsafeMutablePointer<CChar> {
        let utf8 = Array(string.utf8)
        let pointer = allocate(CChar.self, count: utf8.count + 1)
        utf8.withUnsafeBufferPointer { source in
            UnsafeMutableRawPointer(pointer).copyMemory(from: source.baseAddress!, byteCount: utf8.count)
        }
        pointer[utf8.count] = 0
        return pointer
    }

    /// An optional NUL-terminated copy.
    func cString(_ string: String?) -> UnsafeMutablePointer<CChar>? {
        string.map { cString($0) }
    }

    /// A copy of raw bytes (never NULL, also for an empty value), with a NUL after them so
    /// that libldap's string-expecting paths stay safe.
    func bytes(_ bytes: [UInt8]) -> UnsafeMutablePointer<CChar> {
        let pointer = allocate(CChar.self, count: bytes.count + 1)
        bytes.withUnsafeBytes { source in
            if let base = source.baseAddress { UnsafeMutableRawPointer(pointer).copyMemory(from: base, byteCount: bytes.count) }
        }
        return pointer
    }

    /// A NULL-terminated `char **` array.
    func cStringArray(_ strings: [String]) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> {
        let array = allocate(UnsafeMutablePointer<CChar>?.self, count: strings.count + 1)
        for (index, string) in strings.enumerated() { array[index] = cString(string) }
        array[strings.count] = nil
        return array
    }
}
