internal import CLMDB

/// What a ``Transaction`` may do: ``ReadOnlyAccess`` or ``ReadWriteAccess``.
public protocol TransactionAccess {}
/// The access of a transaction from ``Environment/read(_:)``: reads only.
public enum ReadOnlyAccess: TransactionAccess {}
/// The access of a transaction from ``Environment/write(_:)``: reads and writes.
public enum ReadWriteAccess: TransactionAccess {}

public typealias ReadTransaction = Transaction<ReadOnlyAccess>
public typealias WriteTransaction = Transaction<ReadWriteAccess>

/// An LMDB transaction, lent to the closure of ``Environment/read(_:)`` or
/// ``Environment/write(_:)`` and valid only while that closure runs.
///
/// The type is `~Copyable` and is only ever passed `borrowing` (reads) or `inout`
/// (writes), so it cannot be stored, copied or returned: the compiler, not a runtime
/// check, guarantees that it is not used after its closure returned and LMDB freed it.
/// Functions that only read take `borrowing Transaction<A>` for any access `A`, so they
/// accept both kinds:
///
/// ```swift
/// func loadCursor<A>(_ txn: borrowing Transaction<A>, in db: Database) throws -> [UInt8]? {
///     try txn.get(Array("cursor".utf8), in: db)
/// }
/// ```
///
/// Writing methods exist only on `Transaction<ReadWriteAccess>` and are `mutating`; a read
/// transaction cannot write, which the type checker enforces.
///
/// Every method throws ``LMDBError``. Keys must be 1 to 511 bytes long (`.badValSize`
/// otherwise).
public struct Transaction<Access: TransactionAccess>: ~Copyable {
    let handle: OpaquePointer
    let environment: Environment

    init(handle: OpaquePointer, environment: Environment) {
        self.handle = handle
        self.environment = environment
    }

    /// The value stored under `key`, copied out of the map; `nil` when there is none.
    public func get(_ key: [UInt8], in db: Database) throws -> [UInt8]? {
        try withValue(key, in: db) { Array($0) }
    }

    /// Lends the value stored under `key` to `body` without copying it, and returns what
    /// `body` returns; `nil` when there is no such key (then `body` is not called).
    ///
    /// The buffer points into LMDB's read-only memory map and is valid only during
    /// `body`: do not let it escape, and do not write to the database from `body` (for a
    /// write transaction the compiler refuses that: writes need exclusive access).
    public func withValue<R>(_ key: [UInt8], in db: Database, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
        let dbi = self.dbi(of: db)
        var value = MDB_val()
        let rc = withMDBVal(key) { key in mdb_get(handle, dbi, &key, &value) }
        if rc == MDB_NOTFOUND { return nil }
        try check(rc, "mdb_get", on: db)
        return try body(UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size))
    }

    /// The number of keys in `db` (as seen by this transaction).
    public func count(in db: Database) throws -> Int {
        try statistics(of: db).ms_entries
    }

    /// The number of overflow pages in `db`: pages of values too large for a leaf.
    public func overflowPages(in db: Database) throws -> Int {
        try statistics(of: db).ms_overflow_pages
    }

    /// The number of branch pages of `db`: the pages above its leaves.
    public func branchPages(in db: Database) throws -> Int {
        try statistics(of: db).ms_branch_pages
    }

    private func statistics(of db: Database) throws -> MDB_stat {
        var stat = MDB_stat()
        try check(mdb_stat(handle, dbi(of: db), &stat), "mdb_stat", on: db)
        return stat
    }

    /// The handle's index, after checking that it belongs to this transaction's
    /// environment: in another environment the same index names another database or none.
    func dbi(of db: Database) -> MDB_dbi {
        precondition(db.environment == ObjectIdentifier(environment), "database '\(db.name)' belongs to another environment")
        return db.dbi
    }

    /// ``check(_:_:path:database:)`` with this transaction's context, which also tells the
    /// environment about `MDB_MAP_FULL` so that the write is retried with a larger map.
    func check(_ rc: Int32, _ operation: StaticString, database: String?) throws(LMDBError) {
        do {
            try StateStore.check(rc, operation, path: environment.path, database: database)
        } catch {
            if error.code == .mapFull { environment.noteMapFull(error) }
            throw error
        }
    }

    func check(_ rc: Int32, _ operation: StaticString, on db: Database) throws(LMDBError) {
        try check(rc, operation, database: db.name)
    }
}

@available(*, unavailable)
extension Transaction: Sendable {}

extension Transaction where Access == ReadWriteAccess {
    /// Stores `value` under `key`, replacing any previous value.
    public mutating func put(_ value: [UInt8], forKey key: [UInt8], in db: Database) throws {
        let dbi = self.dbi(of: db)
        let rc = withMDBVal(key) { key in
            withMDBVal(value) { value in mdb_put(handle, dbi, &key, &value, 0) }
        }
        try check(rc, "mdb_put", on: db)
    }

    /// Stores `value` under the key `key` points at (``put(_:forKey:in:)`` without an
    /// array for the key: for keys cut from one buffer).
    public mutating func put(_ value: [UInt8], forKey key: UnsafeRawBufferPointer, in db: Database) throws {
        try value.withUnsafeBytes { value in try put(value, forKey: key, in: db) }
    }

    /// Stores the value `value` points at under the key `key` points at (``put(_:forKey:in:)``
    /// for bytes lent from another map, as when a commit copies records from a staging
    /// area): LMDB copies both before it returns.
    public mutating func put(_ value: UnsafeRawBufferPointer, forKey key: UnsafeRawBufferPointer, in db: Database) throws {
        let rc = put(value, key, in: db, flags: 0)
        try check(rc, "mdb_put", on: db)
    }

    /// Stores the pair at the end of `db` (`MDB_APPEND`) when `key` sorts after every key
    /// in it, and returns true; otherwise stores nothing and returns false. Appending
    /// skips the search from the root that a put makes.
    public mutating func append(_ value: UnsafeRawBufferPointer, forKey key: UnsafeRawBufferPointer, in db: Database) throws -> Bool {
        let rc = put(value, key, in: db, flags: UInt32(MDB_APPEND))
        if rc == MDB_KEYEXIST { return false }
        try check(rc, "mdb_put", on: db)
        return true
    }

    private mutating func put(_ value: UnsafeRawBufferPointer, _ key: UnsafeRawBufferPointer, in db: Database, flags: UInt32) -> Int32 {
        let dbi = self.dbi(of: db)
        // LMDB only reads what is passed in; an empty buffer may have no address, and a
        // zero-length value still needs a valid pointer (it is passed to memcpy).
        var empty: UInt8 = 0
        return withUnsafeMutablePointer(to: &empty) { emptyPointer in
            func val(_ buffer: UnsafeRawBufferPointer) -> MDB_val {
                MDB_val(mv_size: buffer.count, mv_data: buffer.count == 0 ? UnsafeMutableRawPointer(emptyPointer)
                        : UnsafeMutableRawPointer(mutating: buffer.baseAddress!))
            }
            var keyValue = val(key)
            var valueValue = val(value)
            return mdb_put(handle, dbi, &keyValue, &valueValue, flags)
        }
    }

    /// Removes every key of `db` (`mdb_drop` without deleting the database): its pages go
    /// back to the free list without each key being deleted in turn.
    public mutating func empty(_ db: Database) throws {
        try check(mdb_drop(handle, dbi(of: db), 0), "mdb_drop", on: db)
    }

    /// Removes `key` and its value; returns whether the key existed.
    @discardableResult
    public mutating func delete(_ key: [UInt8], in db: Database) throws -> Bool {
        let dbi = self.dbi(of: db)
        let rc = withMDBVal(key) { key in mdb_del(handle, dbi, &key, nil) }
        if rc == MDB_NOTFOUND { return false }
        try check(rc, "mdb_del", on: db)
        return true
    }

    /// Opens or creates a named database. Internal: see ``Environment/database(named:)``.
    mutating func openDatabase(named name: String) throws -> Database {
        guard !name.utf8.contains(0) else {
            throw LMDBError(operation: "mdb_dbi_open", code: .invalidArgument, path: environment.path, database: name)
        }
        var dbi: MDB_dbi = 0
        let rc = mdb_dbi_open(handle, name, UInt32(MDB_CREATE), &dbi)
        try check(rc, "mdb_dbi_open", database: name)
        return Database(name: name, dbi: dbi, environment: ObjectIdentifier(environment))
    }
}

/// Lends `bytes` to `body` as an `MDB_val`. LMDB only reads keys and values passed in,
/// so the mutable pointer it wants is never written through. An empty array may have no
/// storage; it is lent as a valid zero-length pointer rather than `NULL`, which LMDB would
/// pass to `memcpy`.
func withMDBVal<R>(_ bytes: [UInt8], _ body: (inout MDB_val) throws -> R) rethrows -> R {
    try bytes.withUnsafeBytes { buffer in
        if let base = buffer.baseAddress {
            var val = MDB_val(mv_size: buffer.count, mv_data: UnsafeMutableRawPointer(mutating: base))
            return try body(&val)
        }
        var placeholder: UInt8 = 0
        return try withUnsafeMutableBytes(of: &placeholder) { empty in
            var val = MDB_val(mv_size: 0, mv_data: empty.baseAddress)
            return try body(&val)
        }
    }
}
