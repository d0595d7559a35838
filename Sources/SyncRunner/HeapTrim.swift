#if canImport(Glibc)
import Glibc
#endif

/// Gives the free pages inside the C heap back to the system: glibc's `malloc_trim(0)`,
/// which (since glibc 2.8) releases every whole free page of the heap, not only its top.
///
/// A run frees large structures between its phases: the group records once they are
/// staged, and the per-user decision state before the writes. glibc keeps what is freed
/// resident until it is reused, and the long-lived values allocated in between (the
/// changed groups' members) keep the heap's top from shrinking: at 1,000,000 users about
/// 220 MB of freed heap stayed resident through the whole user search. Trimming at those
/// points keeps the resident set near the memory in use (SPEC §13, bounded memory).
/// With another C library (no `malloc_trim`), nothing happens.
enum HeapTrim {
    private typealias Trim = @convention(c) (Int) -> Int32

    private static let trim: Trim? = {
        #if canImport(Glibc)
        // malloc.h is not part of the Glibc module: the function is looked up by name.
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "malloc_trim") else { return nil }
        return unsafeBitCast(symbol, to: Trim.self)
        #else
        return nil
        #endif
    }()

    /// Whether this C library can trim (glibc).
    static var isAvailable: Bool { trim != nil }

    /// Releases the heap's free pages; a no-op without `malloc_trim`.
    static func release() {
        _ = trim?(0)
    }
}
