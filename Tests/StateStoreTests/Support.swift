import Foundation
import StateStore

/// Runs `body` with a new, empty directory that is removed afterwards, whatever happens.
func withTemporaryDirectory<R>(_ body: (String) throws -> R) throws -> R {
    var template = Array((NSTemporaryDirectory() + "/statestore-test-XXXXXX").utf8CString)
    let path = template.withUnsafeMutableBufferPointer { buffer -> String? in
        guard let base = buffer.baseAddress, mkdtemp(base) != nil else { return nil }
        return String(cString: base)
    }
    guard let path else { throw CocoaError(.fileWriteUnknown) }
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try body(path)
}

/// Opens an environment in a fresh temporary directory with one database, "test".
func withTestStore<R>(mapSize: Int = Environment.defaultMapSize, _ body: (Environment, Database) throws -> R) throws -> R {
    try withTemporaryDirectory { path in
        let env = try Environment(path: path, mapSize: mapSize)
        let db = try env.database(named: "test")
        return try body(env, db)
    }
}

/// SplitMix64: a small seeded generator, so that random tests are reproducible.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension RandomNumberGenerator {
    mutating func bytes(count: Int) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(count + 8)
        while result.count < count {
            withUnsafeBytes(of: next()) { result.append(contentsOf: $0) }
        }
        result.removeLast(result.count - count)
        return result
    }
}

/// UTF-8 bytes of a string, for readable keys.
func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// LMDB's key order: bytewise, a prefix before its extensions.
func keyOrder(_ a: [UInt8], _ b: [UInt8]) -> Bool { a.lexicographicallyPrecedes(b) }

struct Boom: Error, Equatable {}
