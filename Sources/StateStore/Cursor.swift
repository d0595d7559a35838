internal import CLMDB

#if canImport(Glibc)
internal import Glibc
#endif

extension KeyRange {
    /// Whether `left` sorts before `right` in LMDB's key order (bytes compared unsigned,
    /// a prefix first): `memcmp`, several times faster than the generic
    /// `lexicographicallyPrecedes` when millions of keys are sorted before their puts.
    public static func precedes(_ left: [UInt8], _ right: [UInt8]) -> Bool {
        left.withUnsafeBufferPointer { left in
            right.withUnsafeBufferPointer { right in
                let common = min(left.count, right.count)
                let order = common == 0 ? 0 : memcmp(left.baseAddress!, right.baseAddress!, common)
                return order != 0 ? order < 0 : left.count < right.count
            }
        }
    }
}

/// What an iteration closure wants next.
public enum IterationStep: Sendable {
    case `continue`
    case stop
}

/// A range of keys in LMDB's byte order: from `lowerBound` (inclusive) to `upperBound`
/// (exclusive); a `nil` bound is open.
public struct KeyRange: Hashable, Sendable {
    public var lowerBound: [UInt8]?
    public var upperBound: [UInt8]?

    /// Keys `k` with `from <= k < to`. When `to <= from` the range is empty.
    public init(from lowerBound: [UInt8]? = nil, to upperBound: [UInt8]? = nil) {
        self.lowerBound = lowerBound
        self.upperBound = upperBound
    }

    /// Every key.
    public static var all: KeyRange { KeyRange() }

    /// The keys that start with `prefix` (every key for an empty prefix).
    ///
    /// The upper bound is the smallest key greater than every key with the prefix: the
    /// prefix without its trailing `0xFF` bytes, last byte incremented. A prefix made only
    /// of `0xFF` bytes has no such key, so the range is open above.
    public static func prefix(_ prefix: [UInt8]) -> KeyRange {
        var upper = prefix
        while let last = upper.last, last == 0xFF { upper.removeLast() }
        guard let last = upper.last else { return KeyRange(from: prefix, to: nil) }
        upper[upper.count - 1] = last + 1
        return KeyRange(from: prefix, to: upper)
    }
}

extension Transaction {
    /// Calls `body` with each key and value in `range`, in ascending key order, until it
    /// returns `.stop`. Keys and values are copies.
    ///
    /// In a write transaction the closure cannot write through the same transaction (the
    /// cursor would be moved under it); collect the changes and apply them afterwards, or
    /// use ``removeAll(in:range:where:)`` to delete while iterating.
    public func forEach(in db: Database, range: KeyRange = .all, _ body: (_ key: [UInt8], _ value: [UInt8]) throws -> IterationStep) throws {
        try scan(db, range) { key, value in
            switch try body(Array(key), Array(value)) {
            case .continue: .next
            case .stop: .stop
            }
        }
    }

    /// Calls `body` with each key and value in `range`, in ascending key order, until it
    /// returns `.stop`, without copying them: both point into the map and are valid only
    /// during the call (for copying records into another environment's transaction).
    public func forEachLent(in db: Database, range: KeyRange = .all,
                            _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> IterationStep) throws {
        try scan(db, range) { key, value in
            switch try body(key, value) {
            case .continue: .next
            case .stop: .stop
            }
        }
    }

    /// Whether every key of `db` is in `range` (true for an empty database): then
    /// removing the range is emptying the database.
    public func holdsOnly(_ range: KeyRange, in db: Database) throws -> Bool {
        try withCursor(db) { cursor, dbi in
            var key = MDB_val()
            var value = MDB_val()
            var rc = mdb_cursor_get(cursor, &key, &value, MDB_FIRST)
            if rc == MDB_NOTFOUND { return true }
            try check(rc, "mdb_cursor_get", on: db)
            if let lower = range.lowerBound, withMDBVal(lower, { lower in mdb_cmp(handle, dbi, &key, &lower) < 0 }) { return false }
            rc = mdb_cursor_get(cursor, &key, &value, MDB_LAST)
            try check(rc, "mdb_cursor_get", on: db)
            if let upper = range.upperBound, !withMDBVal(upper, { upper in mdb_cmp(handle, dbi, &key, &upper) < 0 }) { return false }
            return true
        }
    }

    /// Calls `body` with each key in `range`, in ascending key order, until it returns
    /// `.stop`; the values are not copied (nor read beyond their leaf).
    public func forEachKey(in db: Database, range: KeyRange = .all, _ body: (_ key: [UInt8]) throws -> IterationStep) throws {
        try scan(db, range) { key, _ in
            switch try body(Array(key)) {
            case .continue: .next
            case .stop: .stop
            }
        }
    }

    /// For each of `prefixes`, in the order given, calls `body` with the prefix's index and
    /// the rest of every key that starts with it, in ascending key order. The rest is
    /// lent for the call only (it points into the map). One cursor serves every prefix:
    /// a batch of a thousand look-ups opens one cursor, not a thousand.
    public func forEachKey(in db: Database, prefixes: [[UInt8]], _ body: (_ prefix: Int, _ rest: UnsafeRawBufferPointer) throws -> Void) throws {
        try withCursor(db) { cursor, _ in
            var key = MDB_val()
            var value = MDB_val()
            for (index, prefix) in prefixes.enumerated() {
                var rc = Self.position(cursor, atOrAfter: prefix, &key, &value)
                while rc != MDB_NOTFOUND {
                    try check(rc, "mdb_cursor_get", on: db)
                    let found = UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size)
                    // LMDB's default order compares bytes: the keys with the prefix are
                    // contiguous, and the first key without it ends them.
                    let matches = found.count >= prefix.count && prefix.withUnsafeBytes { prefix in
                        prefix.isEmpty || memcmp(found.baseAddress!, prefix.baseAddress!, prefix.count) == 0
                    }
                    guard matches else { break }
                    try body(index, UnsafeRawBufferPointer(rebasing: found[prefix.count...]))
                    rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)
                }
            }
        }
    }

    /// A cursor on `db`, closed when `body` returns or throws.
    private func withCursor<R>(_ db: Database, _ body: (OpaquePointer, MDB_dbi) throws -> R) throws -> R {
        let dbi = self.dbi(of: db)
        var opened: OpaquePointer?
        try check(mdb_cursor_open(handle, dbi, &opened), "mdb_cursor_open", on: db)
        guard let cursor = opened else { preconditionFailure("mdb_cursor_open succeeded without a cursor") }
        defer { mdb_cursor_close(cursor) }
        return try body(cursor, dbi)
    }

    /// Puts the cursor on the first key at or after `lower` (the first key of all when it
    /// is empty), with `key` and `value` read from the map.
    private static func position(_ cursor: OpaquePointer, atOrAfter lower: [UInt8], _ key: inout MDB_val, _ value: inout MDB_val) -> Int32 {
        guard !lower.isEmpty else { return mdb_cursor_get(cursor, &key, &value, MDB_FIRST) }
        var rc = withMDBVal(lower) { lower in
            key = lower
            return mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE)
        }
        // `key` may still point at `lower`, whose storage was only lent for the call
        // above: read the key the cursor stands on from the map.
        if rc == MDB_SUCCESS { rc = mdb_cursor_get(cursor, &key, &value, MDB_GET_CURRENT) }
        return rc
    }

    enum ScanStep {
        case next
        case stop
        /// Delete the current pair with the cursor, then go on with the next key.
        case deleteAndNext
    }

    /// The one cursor loop. The cursor is closed when the loop ends, however it ends; the
    /// buffers lent to `body` point into the map and are valid only during that call.
    func scan(_ db: Database, _ range: KeyRange, _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> ScanStep) throws {
        try withCursor(db) { cursor, dbi in try scan(cursor, dbi, db, range, body) }
    }

    private func scan(_ cursor: OpaquePointer, _ dbi: MDB_dbi, _ db: Database, _ range: KeyRange,
                      _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> ScanStep) throws {
        var key = MDB_val()
        var value = MDB_val()
        var rc = Self.position(cursor, atOrAfter: range.lowerBound ?? [], &key, &value)
        while rc != MDB_NOTFOUND {
            try check(rc, "mdb_cursor_get", on: db)
            if let upper = range.upperBound {
                let below = withMDBVal(upper) { upper in mdb_cmp(handle, dbi, &key, &upper) < 0 }
                if !below { return }
            }
            let step = try body(
                UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size),
                UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size)
            )
            switch step {
            case .stop:
                return
            case .next:
                break
            case .deleteAndNext:
                // After mdb_cursor_del the cursor stands on the following key, and the
                // next MDB_NEXT returns that key rather than skipping it.
                try check(mdb_cursor_del(cursor, 0), "mdb_cursor_del", on: db)
            }
            rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)
        }
    }
}

extension Transaction where Access == ReadWriteAccess {
    /// Deletes every key in `range` (at most `limit` of them, the first in key order);
    /// returns how many were deleted.
    @discardableResult
    public mutating func removeAll(in db: Database, range: KeyRange = .all, limit: Int = .max) throws -> Int {
        var removed = 0
        try scan(db, range) { _, _ in
            guard removed < limit else { return .stop }
            removed += 1
            return .deleteAndNext
        }
        return removed
    }

    /// Deletes the keys in `range` for which `shouldRemove` returns `true`, with the cursor
    /// that visits them; returns how many were deleted. Keys and values are copies.
    @discardableResult
    public mutating func removeAll(in db: Database, range: KeyRange = .all, where shouldRemove: (_ key: [UInt8], _ value: [UInt8]) throws -> Bool) throws -> Int {
        var removed = 0
        try scan(db, range) { key, value in
            guard try shouldRemove(Array(key), Array(value)) else { return .next }
            removed += 1
            return .deleteAndNext
        }
        return removed
    }
}
