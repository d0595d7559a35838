import Foundation
import GRDB
import PostgresSupport
import Testing
@testable import AppStore

/// The two app stores; the contract tests run against each.
enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite, postgres

    var testDescription: String { rawValue }

    /// SQLite always; PostgreSQL when this machine can run a private server (see
    /// `PostgresAvailabilityTests` for the reason when it cannot).
    static let available: [Backend] = PostgresServer.availability() == nil ? [.sqlite, .postgres] : [.sqlite]
}

/// The application's own view of the database, beside the store: raw SQL and a
/// byte-exact picture of every table.
protocol RawDatabase {
    func execute(_ sql: String) throws
    /// Every row of every table, one line each, sorted.
    func dump() throws -> [String]
    /// The rows of a query, columns joined with `|`.
    func rows(_ sql: String) throws -> [String]
}

extension RawDatabase {
    /// An application's trigger on `users` that refuses a row `before` an event (`INSERT`,
    /// `UPDATE OF phone`) when `condition` (on `NEW`) holds, with `message`.
    func addRefusingTrigger(_ name: String, before event: String, when condition: String, message: String,
                            backend: Backend) throws {
        switch backend {
        case .sqlite:
            try execute("""
                CREATE TRIGGER \(name) BEFORE \(event) ON users
                WHEN \(condition) BEGIN SELECT RAISE(ABORT, '\(message)'); END
                """)
        case .postgres:
            try execute("""
                CREATE FUNCTION \(name)() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN IF \(condition) THEN RAISE EXCEPTION '\(message)'; END IF; RETURN NEW; END $$;
                CREATE TRIGGER \(name) BEFORE \(event) ON users FOR EACH ROW EXECUTE FUNCTION \(name)();
                """)
        }
    }
}

struct SQLiteRaw: RawDatabase {
    let path: String
    func execute(_ sql: String) throws { try rawConnection(path).write { try $0.execute(sql: sql) } }
    func dump() throws -> [String] { try AppStoreTests.dump(path) }
    func rows(_ sql: String) throws -> [String] {
        try rawConnection(path).read { db in
            try Row.fetchAll(db, sql: sql).map { row in
                (0..<row.count).map { index -> String in
                    let value: DatabaseValue = row[index]
                    switch value.storage {
                    case .null: return ""
                    case .int64(let number): return String(number)
                    case .double(let number): return String(number)
                    case .string(let text): return text
                    case .blob(let data): return "\\x" + data.map { String(format: "%02x", $0) }.joined()
                    }
                }.joined(separator: "|")
            }
        }
    }
}

struct PostgresRaw: RawDatabase {
    let server: PostgresServer
    let database: String
    /// As the test role, so that what it creates belongs to the role the store connects as.
    func execute(_ sql: String) throws { try server.psql("SET ROLE \(server.role);\n" + sql, database: database) }
    func dump() throws -> [String] {
        let tables = try rows("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        return try tables.flatMap { table in
            try rows("SELECT t::text FROM \(table.quotedIdentifier) AS t ORDER BY 1").map { "\(table): \($0)" }
        }
    }
    func rows(_ sql: String) throws -> [String] {
        try server.psql(sql, database: database).split(separator: "\n", omittingEmptySubsequences: false)
            .dropLast().map(String.init)
    }
}

/// A fresh, empty database of `backend`, the application's raw view of it, and a way to
/// open a store on it with any schema.
struct TestDatabase {
    let backend: Backend
    let raw: any RawDatabase
    let open: (AppSchema) throws -> any AppStore
}

func withDatabase<R>(_ backend: Backend, _ body: (TestDatabase) throws -> R) throws -> R {
    switch backend {
    case .sqlite:
        return try withTemporaryDirectory { directory in
            let path = directory + "/app.db"
            return try body(TestDatabase(backend: backend, raw: SQLiteRaw(path: path)) { schema in
                try SQLiteAppStore(path: path, schema: schema)
            })
        }
    case .postgres:
        let server = try PostgresServer.shared()
        let database = try server.createDatabase()
        let password = try Secret(Array(Data(contentsOf: URL(fileURLWithPath: server.passwordFile))))
        return try body(TestDatabase(backend: backend, raw: PostgresRaw(server: server, database: database)) { schema in
            try PostgresAppStore(url: server.url(database: database), password: password, sslMode: "disable", schema: schema)
        })
    }
}

/// A store of `backend` on a fresh database with the default schema created.
func withStore<R>(
    _ backend: Backend, schema: AppSchema = testSchema(), _ body: (any AppStore, any RawDatabase) throws -> R
) throws -> R {
    try withDatabase(backend) { database in
        let store = try database.open(schema)
        try store.createDefaultSchema()
        return try body(store, database.raw)
    }
}

/// The reason PostgreSQL tests do not run here, shown as a skipped test.
@Suite struct PostgresAvailabilityTests {
    @Test(.enabled(if: PostgresServer.availability() == nil,
                   Comment(rawValue: "PostgreSQL app-store tests skipped: \(PostgresServer.availability() ?? "")")))
    func aPrivatePostgreSQLServerStartsAndTakesTheTestRole() throws {
        let server = try PostgresServer.shared()
        let database = try server.createDatabase()
        let output = try server.psql("SELECT current_database(), pg_has_role('ldapsync_test', 'USAGE')", database: database)
        #expect(output == "\(database)|t\n")
        #expect(try FileManager.default.attributesOfItem(atPath: server.passwordFile)[.posixPermissions] as? Int == 0o600)
    }
}
