import Foundation
import GRDB
@testable import AppStore

/// Runs `body` with a new, empty directory that is removed afterwards, whatever happens.
func withTemporaryDirectory<R>(_ body: (String) throws -> R) throws -> R {
    var template = Array((NSTemporaryDirectory() + "/appstore-test-XXXXXX").utf8CString)
    let path = template.withUnsafeMutableBufferPointer { buffer -> String? in
        guard let base = buffer.baseAddress, mkdtemp(base) != nil else { return nil }
        return String(cString: base)
    }
    guard let path else { throw CocoaError(.fileWriteUnknown) }
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try body(path)
}

/// The default schema with one column of each kind.
func testSchema() -> AppSchema {
    var schema = AppSchema()
    schema.columns = [
        AppColumn(name: "email", kind: .text),
        AppColumn(name: "phone", kind: .text),
        AppColumn(name: "roles", kind: .jsonArray),
        AppColumn(name: "photo", kind: .blob),
    ]
    return schema
}

/// A store on `app.db` in a fresh temporary directory, with the default schema created.
func withStore<R>(
    schema: AppSchema = testSchema(), busyTimeout: Duration = .seconds(10),
    _ body: (SQLiteAppStore, String) throws -> R
) throws -> R {
    try withTemporaryDirectory { directory in
        let path = directory + "/app.db"
        let store = try SQLiteAppStore(path: path, schema: schema, busyTimeout: busyTimeout)
        try store.createDefaultSchema()
        return try body(store, path)
    }
}

/// A second, independent connection, as the application would have.
func rawConnection(_ path: String, allowsUnsafeTransactions: Bool = false) throws -> DatabaseQueue {
    var configuration = Configuration()
    configuration.allowsUnsafeTransactions = allowsUnsafeTransactions
    return try DatabaseQueue(path: path, configuration: configuration)
}

/// Every row of every table, rendered with SQLite's quote(): a byte-exact picture of
/// the database's content.
func dump(_ path: String) throws -> [String] {
    try rawConnection(path).read { db in
        let tables = try String.fetchAll(
            db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
        )
        var lines: [String] = []
        for table in tables {
            let columns = try db.columns(in: table).map { "quote(\($0.name.quotedIdentifier))" }
            let rows = try String.fetchAll(
                db,
                sql: "SELECT \(columns.joined(separator: " || '|' || ")) FROM \(table.quotedIdentifier) ORDER BY 1"
            )
            lines += rows.map { "\(table): \($0)" }
        }
        return lines
    }
}

func user(_ key: String, email: String? = nil, roles: [String]? = nil, photo: [UInt8]? = nil) -> AppUser {
    var values: [String: AppValue] = [:]
    if let email { values["email"] = .text(email) }
    if let roles { values["roles"] = .text(AppValue.encodeJSONArray(roles)) }
    if let photo { values["photo"] = .blob(photo) }
    return AppUser(key: key, managed: true, values: values)
}

/// Whether `error` is an AppStoreError whose description contains every fragment.
func describes(_ error: any Error, _ fragments: String...) -> Bool {
    guard let error = error as? AppStoreError else { return false }
    return fragments.allSatisfy { error.description.contains($0) }
}
