import Foundation
import StateStore
import Testing

@Suite struct MapGrowthTests {
    static let tinyMap = 256 << 10

    /// 2,000 values of 4 KiB: about 8 MB, 32 times the initial map.
    static func value(_ index: Int) -> [UInt8] {
        var value = [UInt8](repeating: UInt8(truncatingIfNeeded: index), count: 4096)
        value[0] = 0xFF
        value[1] = 0
        return value
    }

    static func key(_ index: Int) -> [UInt8] { bytes("key-\(100_000 + index)") }

    @Test func oneLargeTransactionGrowsTheMapAndIsRunAgain() throws {
        try withTestStore(mapSize: Self.tinyMap) { env, db in
            var attempts = 0
            try env.write { txn in
                attempts += 1
                for index in 0..<2000 { try txn.put(Self.value(index), forKey: Self.key(index), in: db) }
            }
            #expect(attempts > 1)
            #expect(try env.mapSize > 8 << 20)
            try env.read { txn throws in
                #expect(try txn.count(in: db) == 2000)
                for index in 0..<2000 { #expect(try txn.get(Self.key(index), in: db) == Self.value(index)) }
            }
        }
    }

    @Test func manySmallTransactionsGrowTheMap() throws {
        try withTestStore(mapSize: Self.tinyMap) { env, db in
            for batch in 0..<200 {
                try env.write { txn in
                    for index in batch * 10..<(batch + 1) * 10 {
                        try txn.put(Self.value(index), forKey: Self.key(index), in: db)
                    }
                }
            }
            #expect(try env.mapSize > Self.tinyMap)
            try env.read { txn throws in
                #expect(try txn.count(in: db) == 2000)
                for index in 0..<2000 { #expect(try txn.get(Self.key(index), in: db) == Self.value(index)) }
            }
        }
    }

    @Test func grownDataIsReadableAfterReopening() throws {
        try withTemporaryDirectory { path in
            func fill() throws {
                let env = try Environment(path: path, mapSize: Self.tinyMap)
                let db = try env.database(named: "test")
                try env.write { txn in
                    for index in 0..<1000 { try txn.put(Self.value(index), forKey: Self.key(index), in: db) }
                }
            }
            try fill()
            // Reopened with the tiny map again: LMDB keeps at least the size the data uses,
            // and the next write grows it further.
            let env = try Environment(path: path, mapSize: Self.tinyMap)
            let db = try env.database(named: "test")
            try env.write { txn in
                for index in 1000..<2000 { try txn.put(Self.value(index), forKey: Self.key(index), in: db) }
            }
            try env.read { txn throws in
                #expect(try txn.count(in: db) == 2000)
                #expect(try txn.get(Self.key(0), in: db) == Self.value(0))
                #expect(try txn.get(Self.key(1999), in: db) == Self.value(1999))
            }
        }
    }

    @Test func aWriteThatSwallowsMapFullIsStillRetried() throws {
        try withTestStore(mapSize: Self.tinyMap) { env, db in
            var failures = 0
            try env.write { txn in
                for index in 0..<2000 {
                    do {
                        try txn.put(Self.value(index), forKey: Self.key(index), in: db)
                    } catch {
                        failures += 1
                    }
                }
            }
            #expect(failures > 0)
            #expect(try env.read { txn in try txn.count(in: db) } == 2000)
        }
    }

    @Test func aWriteNestedInAReadCannotGrowTheMap() throws {
        try withTestStore(mapSize: Self.tinyMap) { env, db in
            try env.read { _ in
                let error = #expect(throws: LMDBError.self) {
                    try env.write { txn in
                        for index in 0..<2000 { try txn.put(Self.value(index), forKey: Self.key(index), in: db) }
                    }
                }
                #expect(error?.code == .mapFull)
            }
            // Once the reader is gone the same write succeeds.
            try env.write { txn in
                for index in 0..<2000 { try txn.put(Self.value(index), forKey: Self.key(index), in: db) }
            }
            #expect(try env.read { txn in try txn.count(in: db) } == 2000)
        }
    }

    @Test func aFiveMegabyteValueFitsAfterGrowth() throws {
        try withTestStore(mapSize: Self.tinyMap) { env, db in
            var random = SeededGenerator(seed: 5)
            let big = random.bytes(count: 5 << 20)
            try env.write { txn in try txn.put(big, forKey: bytes("big"), in: db) }
            #expect(try env.read { txn in try txn.get(bytes("big"), in: db) } == big)
        }
    }
}

/// `releaseMappedPages` finds the map of data.mdb and drops its pages from the resident
/// set (they come back from the page cache on the next read).
@Suite struct MappedPagesTests {
    /// The resident size of this process's mapping of `file`, from /proc/self/smaps.
    private func residentKB(of file: String) throws -> Int {
        // /proc files report size 0: read to the end instead of by size.
        let handle = try #require(FileHandle(forReadingAtPath: "/proc/self/smaps"))
        defer { try? handle.close() }
        let smaps = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        var inFile = false
        var total = 0
        for line in smaps.split(separator: "\n") {
            if let first = line.first, first.isHexDigit, line.contains("-") {
                inFile = line.hasSuffix(file)
            } else if inFile, line.hasPrefix("Rss:") {
                total += Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
            }
        }
        return total
    }

    @Test func readPagesAreReleasedAndReadAgainUnchanged() throws {
        try withTemporaryDirectory { path in
            let environment = try Environment(path: path, mapSize: 256 << 20)
            let db = try environment.database(named: "data")
            let value = [UInt8](repeating: 7, count: 4_000)
            try environment.write { txn in
                for index in 0..<16_000 { try txn.put(value, forKey: Array("key\(index)".utf8), in: db) }
            }
            let file = try #require(realpathString(path + "/data.mdb"))
            #expect(Environment.mappings(of: file).count == 1)
            func readAll() throws -> Int {
                try environment.read { txn in
                    var total = 0
                    try txn.forEach(in: db) { _, value in total += value.count; return .continue }
                    return total
                }
            }
            #expect(try readAll() == 16_000 * 4_000)
            let before = try residentKB(of: file)
            environment.releaseMappedPages()
            let after = try residentKB(of: file)
            // About 64 MB of pages were mapped by the read; they must be gone.
            #expect(before > 32_000 && after < 1_000, "\(before) kB resident before, \(after) kB after")
            #expect(try readAll() == 16_000 * 4_000)
        }
    }

    /// The map's addresses are looked up once and kept; growing the map remaps the file,
    /// and the pages of the new map must be the ones released.
    @Test func pagesOfAGrownMapAreReleased() throws {
        try withTemporaryDirectory { path in
            let environment = try Environment(path: path, mapSize: 1 << 20)
            let db = try environment.database(named: "data")
            let file = try #require(realpathString(path + "/data.mdb"))
            environment.releaseMappedPages()
            let small = environment.currentMappings()
            #expect(small.count == 1 && small.first.map { $0.1 - $0.0 } == 1 << 20)
            let value = [UInt8](repeating: 9, count: 4_000)
            try environment.write { txn in
                for index in 0..<16_000 { try txn.put(value, forKey: Array("key\(index)".utf8), in: db) }
            }
            let total = try environment.read { txn in
                var total = 0
                try txn.forEach(in: db) { _, value in total += value.count; return .continue }
                return total
            }
            #expect(total == 16_000 * 4_000)
            let before = try residentKB(of: file)
            environment.releaseMappedPages()
            let after = try residentKB(of: file)
            #expect(environment.currentMappings().map { [$0.0, $0.1] } == Environment.mappings(of: file).map { [$0.0, $0.1] })
            #expect(environment.currentMappings().first.map { $0.1 - $0.0 } ?? 0 >= 32 << 20)
            #expect(before > 32_000 && after < 1_000, "\(before) kB resident before, \(after) kB after")
        }
    }

    private func realpathString(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
