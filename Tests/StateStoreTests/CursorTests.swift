import Foundation
import StateStore
import Testing

/// Every key and value of `db` in `range`, in iteration order.
private func contents(of db: Database, in env: Environment, range: KeyRange = .all) throws -> [([UInt8], [UInt8])] {
    try env.read { txn in
        var pairs: [([UInt8], [UInt8])] = []
        try txn.forEach(in: db, range: range) { key, value in
            pairs.append((key, value))
            return .continue
        }
        return pairs
    }
}

private func keys(of db: Database, in env: Environment, range: KeyRange = .all) throws -> [[UInt8]] {
    try contents(of: db, in: env, range: range).map(\.0)
}

@Suite struct CursorTests {
    /// Keys chosen to sit on the edges of ranges and prefixes.
    static let edgeKeys: [[UInt8]] = [
        [0x00], [0x00, 0x00], [0x01], [0x01, 0x00], [0x01, 0xFF], [0x01, 0xFF, 0xFF],
        [0x01, 0xFF, 0xFF, 0x00], [0x02], [0x7F], [0xFE, 0xFF], [0xFF], [0xFF, 0x00], [0xFF, 0xFF],
        [0xFF, 0xFF, 0xFF], bytes("a"), bytes("ab"), bytes("abc"), bytes("abd"), bytes("b"),
    ]

    static func withEdgeKeys(_ body: (Environment, Database) throws -> Void) throws {
        try withTestStore { env, db in
            try env.write { txn in
                for (index, key) in edgeKeys.enumerated() { try txn.put([UInt8(index)], forKey: key, in: db) }
            }
            try body(env, db)
        }
    }

    static func expected(in range: KeyRange) -> [[UInt8]] {
        edgeKeys.sorted(by: keyOrder).filter { key in
            (range.lowerBound.map { !keyOrder(key, $0) } ?? true) && (range.upperBound.map { keyOrder(key, $0) } ?? true)
        }
    }

    @Test func iteratesEveryKeyInByteOrderWithItsValue() throws {
        try withTestStore { env, db in
            var random = SeededGenerator(seed: 1)
            var model: [[UInt8]: [UInt8]] = [:]
            for _ in 0..<3000 {
                model[random.bytes(count: Int.random(in: 1...12, using: &random))] = random.bytes(count: Int.random(in: 0...40, using: &random))
            }
            try env.write { txn in
                for (key, value) in model.shuffled(using: &random) { try txn.put(value, forKey: key, in: db) }
            }
            let pairs = try contents(of: db, in: env)
            #expect(pairs.map(\.0) == model.keys.sorted(by: keyOrder))
            #expect(pairs.allSatisfy { model[$0.0] == $0.1 })
        }
    }

    /// Keys alone come in the same order and ranges as with their values, and `.stop` ends
    /// the walk.
    @Test(arguments: CursorTests.ranges)
    func forEachKeyVisitsTheKeysOfForEach(range: KeyRange) throws {
        try Self.withEdgeKeys { env, db in
            func visit(answering step: IterationStep) throws -> [[UInt8]] {
                try env.read { txn in
                    var visited: [[UInt8]] = []
                    try txn.forEachKey(in: db, range: range) { key in
                        visited.append(key)
                        return step
                    }
                    return visited
                }
            }
            let all = try visit(answering: .continue), first = try visit(answering: .stop)
            #expect(all == Self.expected(in: range))
            #expect(first == Array(Self.expected(in: range).prefix(1)))
        }
    }

    /// One cursor over many prefixes finds, for each in the order given, exactly the keys
    /// a prefix range finds, without the prefix: also for prefixes of only 0xFF bytes,
    /// prefixes no key has, the empty prefix, and a prefix asked twice or out of order.
    @Test func forEachKeyWithPrefixesFindsWhatEachPrefixRangeFinds() throws {
        try Self.withEdgeKeys { env, db in
            let prefixes: [[UInt8]] = [[0x01, 0xFF], [0xFF], [0x00], bytes("ab"), [0x03], [0xFF, 0xFF, 0xFF, 0xFF], [0x01], [],
                                       [0x01, 0xFF], bytes("abc"), [0x7F]]
            var found: [(Int, [UInt8])] = []
            try env.read { txn in
                try txn.forEachKey(in: db, prefixes: prefixes) { index, rest in found.append((index, Array(rest))) }
            }
            var expected: [(Int, [UInt8])] = []
            for (index, prefix) in prefixes.enumerated() {
                for key in try keys(of: db, in: env, range: .prefix(prefix)) { expected.append((index, Array(key.dropFirst(prefix.count)))) }
            }
            #expect(found.map(\.0) == expected.map(\.0))
            #expect(found.map(\.1) == expected.map(\.1))
            #expect(found.filter { $0.0 == 0 }.map(\.1) == [[], [0xFF], [0xFF, 0x00]])
            #expect(!found.contains { $0.0 == 4 || $0.0 == 5 })
        }
    }

    /// The comparison the member index sorts its puts with is LMDB's own order, also on
    /// keys where one is a prefix of another and on bytes above 0x7F.
    @Test func keyRangePrecedesIsLMDBsKeyOrder() throws {
        try withTestStore { env, db in
            var random = SeededGenerator(seed: 2)
            var stored = Set(Self.edgeKeys)
            for _ in 0..<3000 { stored.insert(random.bytes(count: Int.random(in: 1...6, using: &random))) }
            try env.write { txn in
                for key in stored { try txn.put([], forKey: key, in: db) }
            }
            #expect(try keys(of: db, in: env) == stored.sorted(by: KeyRange.precedes))
            for (left, right) in zip(Self.edgeKeys, Self.edgeKeys.reversed()) {
                #expect(KeyRange.precedes(left, right) == left.lexicographicallyPrecedes(right))
            }
            #expect(!KeyRange.precedes([], []) && KeyRange.precedes([], [0]) && !KeyRange.precedes([0], []))
        }
    }

    static let ranges: [KeyRange] = [
        .all,
        KeyRange(from: [0x01], to: [0x02]),
        KeyRange(from: [0x01, 0x00], to: [0x01, 0xFF, 0xFF]),  // both bounds are keys
        KeyRange(from: [0x00, 0x01], to: [0x01, 0x00, 0x00]),  // neither bound is a key
        KeyRange(from: bytes("ab")),
        KeyRange(to: bytes("ab")),
        KeyRange(to: [0x00]),  // below every key
        KeyRange(from: [0xFF, 0xFF, 0xFF, 0xFF]),  // above every key
        KeyRange(from: [], to: [0x01]),  // the empty key is the smallest
        KeyRange(from: [0x02], to: [0x02]),  // empty: from == to
        KeyRange(from: [0x7F], to: [0x01]),  // empty: from > to
        KeyRange(to: []),  // empty: nothing is below the empty key
    ]

    @Test(arguments: ranges)
    func rangeScansReturnExactlyTheKeysFromLowerToBeforeUpper(range: KeyRange) throws {
        try Self.withEdgeKeys { env, db throws in
            #expect(try keys(of: db, in: env, range: range) == Self.expected(in: range))
        }
    }

    static let prefixes: [[UInt8]] = [
        [], [0x00], [0x01], [0x01, 0xFF], [0x01, 0xFF, 0xFF], [0xFE], [0xFF], [0xFF, 0xFF], [0xFF, 0xFF, 0xFF, 0xFF],
        bytes("ab"), bytes("abc"), bytes("zz"),
    ]

    @Test(arguments: prefixes)
    func prefixScansReturnExactlyTheKeysWithThePrefix(prefix: [UInt8]) throws {
        try Self.withEdgeKeys { env, db throws in
            let expected = Self.edgeKeys.sorted(by: keyOrder).filter { $0.starts(with: prefix) }
            #expect(try keys(of: db, in: env, range: .prefix(prefix)) == expected)
        }
    }

    @Test func prefixRangesStopBeforeTheNextPrefix() {
        #expect(KeyRange.prefix([0x01, 0xFF]) == KeyRange(from: [0x01, 0xFF], to: [0x02]))
        #expect(KeyRange.prefix([0x01, 0x02]) == KeyRange(from: [0x01, 0x02], to: [0x01, 0x03]))
        #expect(KeyRange.prefix([0xFF, 0xFF]) == KeyRange(from: [0xFF, 0xFF], to: nil))
        #expect(KeyRange.prefix([]) == KeyRange(from: [], to: nil))
    }

    @Test func randomRangesAndPrefixesMatchAReferenceModel() throws {
        try withTestStore { env, db in
            var random = SeededGenerator(seed: 2)
            let alphabet: [UInt8] = [0x00, 0x01, 0x7F, 0xFE, 0xFF]
            func randomKey(_ lengths: ClosedRange<Int>) -> [UInt8] {
                (0..<Int.random(in: lengths, using: &random)).map { _ in alphabet.randomElement(using: &random) ?? 0 }
            }
            var model = Set<[UInt8]>()
            for _ in 0..<2000 { model.insert(randomKey(1...5)) }
            try env.write { txn in
                for key in model { try txn.put(key, forKey: key, in: db) }
            }
            let sorted = model.sorted(by: keyOrder)
            for _ in 0..<200 {
                let from = Bool.random(using: &random) ? randomKey(0...5) : nil
                let to = Bool.random(using: &random) ? randomKey(0...5) : nil
                let range = KeyRange(from: from, to: to)
                let expected = sorted.filter { key in
                    (from.map { !keyOrder(key, $0) } ?? true) && (to.map { keyOrder(key, $0) } ?? true)
                }
                #expect(try keys(of: db, in: env, range: range) == expected, "range \(range)")

                let prefix = randomKey(0...3)
                #expect(try keys(of: db, in: env, range: .prefix(prefix)) == sorted.filter { $0.starts(with: prefix) }, "prefix \(prefix)")
            }
        }
    }

    @Test func stopEndsTheIteration() throws {
        try Self.withEdgeKeys { env, db in
            var visited: [[UInt8]] = []
            try env.read { txn in
                try txn.forEach(in: db) { key, _ in
                    visited.append(key)
                    return visited.count == 3 ? .stop : .continue
                }
            }
            #expect(visited == Array(Self.expected(in: .all).prefix(3)))
        }
    }

    @Test func anErrorThrownByTheBodyEndsTheIterationAndIsRethrown() throws {
        try Self.withEdgeKeys { env, db in
            var visited = 0
            #expect(throws: Boom()) {
                try env.read { txn in
                    try txn.forEach(in: db) { _, _ in
                        visited += 1
                        throw Boom()
                    }
                }
            }
            #expect(visited == 1)
        }
    }

    @Test func removeAllDeletesExactlyTheKeysInTheRange() throws {
        try withTestStore { env, db in
            let all = (0..<5000).map { bytes("user-\(10_000 + $0)") }
            try env.write { txn in
                for key in all { try txn.put(key, forKey: key, in: db) }
            }
            let lower = bytes("user-11000"), upper = bytes("user-13500")
            let removed = try env.write { txn in try txn.removeAll(in: db, range: KeyRange(from: lower, to: upper)) }
            #expect(removed == 2500)
            let expected = all.filter { keyOrder($0, lower) || !keyOrder($0, upper) }
            #expect(try keys(of: db, in: env) == expected)
        }
    }

    @Test func removeAllWhereDeletesTheMatchingKeysAcrossPages() throws {
        try withTestStore { env, db in
            let all = (0..<10_000).map { bytes("k\(100_000 + $0)") }
            try env.write { txn in
                for (index, key) in all.enumerated() { try txn.put(index % 2 == 0 ? [0] : [1], forKey: key, in: db) }
            }
            let removed = try env.write { txn in
                try txn.removeAll(in: db) { _, value in value == [0] }
            }
            #expect(removed == 5000)
            let remaining = try contents(of: db, in: env)
            #expect(remaining.map(\.0) == all.enumerated().filter { $0.offset % 2 == 1 }.map(\.element))
            #expect(remaining.allSatisfy { $0.1 == [1] })
        }
    }

    @Test func removeAllEmptiesTheDatabase() throws {
        try withTestStore { env, db in
            try env.write { txn in
                for index in 0..<3000 { try txn.put([1, 2, 3], forKey: bytes("k\(index)"), in: db) }
            }
            #expect(try env.write { txn in try txn.removeAll(in: db) } == 3000)
            #expect(try env.read { txn in try txn.count(in: db) } == 0)
            #expect(try env.write { txn in try txn.removeAll(in: db) } == 0)
        }
    }

    @Test func removeAllOfAPrefixLeavesItsNeighbours() throws {
        try Self.withEdgeKeys { env, db in
            let removed = try env.write { txn in try txn.removeAll(in: db, range: .prefix([0x01, 0xFF])) }
            #expect(removed == 3)
            #expect(try keys(of: db, in: env) == Self.expected(in: .all).filter { !$0.starts(with: [0x01, 0xFF]) })
        }
    }

    /// The lent walk sees what the copying one sees, range by range, and its buffers can
    /// be put into another environment's transaction as they are.
    @Test(arguments: CursorTests.ranges)
    func forEachLentWalksWhatForEachWalksAndItsBuffersCopyIntoAnotherStore(_ range: KeyRange) throws {
        try Self.withEdgeKeys { env, db in
            try withTestStore { other, copy in
                var lent: [([UInt8], [UInt8])] = []
                try other.write { otherTxn in
                    try env.read { txn in
                        try txn.forEachLent(in: db, range: range) { key, value in
                            lent.append((Array(key), Array(value)))
                            try otherTxn.put(value, forKey: key, in: copy)
                            return .continue
                        }
                    }
                }
                let copied = try contents(of: db, in: env, range: range)
                #expect(lent.map(\.0) == copied.map(\.0))
                #expect(lent.map(\.1) == copied.map(\.1))
                #expect(try contents(of: copy, in: other).map(\.0) == copied.map(\.0))
                #expect(try contents(of: copy, in: other).map(\.1) == copied.map(\.1))
            }
        }
    }

    @Test(arguments: CursorTests.ranges)
    func holdsOnlyTellsWhetherEveryKeyIsInTheRange(_ range: KeyRange) throws {
        try Self.withEdgeKeys { env, db in
            let inside = Self.expected(in: range)
            #expect(try env.read { txn in try txn.holdsOnly(range, in: db) } == (inside.count == Self.edgeKeys.count))
            // With only the range's keys left, it does.
            try env.write { txn in
                for key in Self.edgeKeys where !inside.contains(key) { try txn.delete(key, in: db) }
            }
            #expect(try env.read { txn in try txn.holdsOnly(range, in: db) })
        }
        // An empty database holds only any range's keys.
        try withTestStore { env, db throws in
            let holds = try env.read { txn in try txn.holdsOnly(range, in: db) }
            #expect(holds)
        }
    }

    @Test func emptyRemovesEveryKeyAndTheDatabaseStaysUsable() throws {
        try withTestStore { env, db in
            let other = try env.database(named: "other")
            try env.write { txn in
                for index in 0..<5000 { try txn.put(Array(repeating: 7, count: 100), forKey: bytes("k\(index)"), in: db) }
                try txn.put([1], forKey: bytes("kept"), in: other)
            }
            try env.write { txn in try txn.empty(db) }
            #expect(try env.read { txn in try txn.count(in: db) } == 0)
            #expect(try contents(of: other, in: env).map(\.0) == [bytes("kept")])
            try env.write { txn in try txn.put([2], forKey: bytes("again"), in: db) }
            #expect(try contents(of: db, in: env).map(\.0) == [bytes("again")])
            // Undone with its transaction, like any write.
            #expect(throws: Boom()) {
                try env.write { txn in
                    try txn.empty(db)
                    throw Boom()
                }
            }
            #expect(try contents(of: db, in: env).map(\.0) == [bytes("again")])
        }
    }

    /// `append` stores a key that sorts after every key and refuses any other, storing
    /// nothing; a put of the refused one still works.
    @Test func appendStoresOnlyKeysAfterTheLastAndRefusesTheRest() throws {
        try withTestStore { env, db in
            let sorted = (0..<3000).map { bytes(String(format: "k%05d", $0)) }
            try env.write { txn in
                for key in sorted {
                    let stored = try key.withUnsafeBytes { key in try [UInt8(1)].withUnsafeBytes { value in try txn.append(value, forKey: key, in: db) } }
                    #expect(stored)
                }
                for key in [sorted[0], sorted[1500], sorted[2999], bytes("a")] {
                    let stored = try key.withUnsafeBytes { key in try [UInt8(2)].withUnsafeBytes { value in try txn.append(value, forKey: key, in: db) } }
                    #expect(!stored)
                }
                try bytes("a").withUnsafeBytes { key in try [UInt8(3)].withUnsafeBytes { value in try txn.put(value, forKey: key, in: db) } }
            }
            let pairs = try contents(of: db, in: env)
            #expect(pairs.map(\.0) == [bytes("a")] + sorted)
            #expect(pairs.map(\.1) == [[3]] + Array(repeating: [1], count: 3000))
        }
    }

    @Test func overflowPagesCountsOnlyLargeValues() throws {
        try withTestStore { env, db in
            try env.write { txn in try txn.put(Array(repeating: 1, count: 100), forKey: bytes("small"), in: db) }
            #expect(try env.read { txn in try txn.overflowPages(in: db) } == 0)
            try env.write { txn in try txn.put(Array(repeating: 1, count: 20_000), forKey: bytes("large"), in: db) }
            #expect(try env.read { txn in try txn.overflowPages(in: db) } >= 4)
        }
    }

    @Test func aRemovalInAWriteThatThrowsIsUndone() throws {
        try Self.withEdgeKeys { env, db throws in
            #expect(throws: Boom()) {
                try env.write { txn in
                    try txn.removeAll(in: db)
                    throw Boom()
                }
            }
            #expect(try keys(of: db, in: env) == Self.expected(in: .all))
        }
    }
}
