import AppStore
import ArgumentParser
import SyncConfig
import SyncRunner
#if canImport(Glibc)
import Glibc
#endif

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a commented example configuration and create the default SQLite tables.",
        discussion: """
            Without a configuration file at --config (default ./ldapsync.yaml), writes the \
            commented example there (never overwriting a file). With --sqlite PATH, or when \
            the configuration's app store is SQLite, creates the default tables there when \
            they are missing, and adds missing mapped columns.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: ArgumentHelp("The SQLite app database to create tables in.", valueName: "path"))
    var sqlite: String?

    func run() throws {
        let path = global.config ?? "ldapsync.yaml"
        if access(path, F_OK) != 0 {
            try writeExample(to: path)
            print("wrote the example configuration \(path): edit the values marked CHANGE ME, then run ldapsync doctor")
            guard let sqlite else { return }
            try createTables(at: sqlite, schema: AppSchemaBuilder.schema(exampleMapping(path)))
            return
        }
        let configuration = try global.loadConfiguration()
        let database: String
        if let sqlite {
            database = sqlite
        } else if case .sqlite(let configured) = configuration.app.kind {
            database = configured
        } else if case .postgres(let url, let password, let tls) = configuration.app.kind {
            do {
                let store = try PostgresAppStoreOpening.open(configuration, url: url, password: password, tls: tls)
                let changes = try store.createDefaultSchemaReportingChanges()
                if changes.isEmpty { print("PostgreSQL app store: the tables are already there") }
                for change in changes { print("PostgreSQL app store: \(change)") }
            } catch {
                throw CommandExit(.usage, "app store (PostgreSQL): \(error)")
            }
            return
        } else {
            print("\(path) exists and its app store is not SQLite: nothing to create")
            return
        }
        try createTables(at: database, schema: AppSchemaBuilder.schema(configuration))
    }

    private func writeExample(to path: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o640)
        guard descriptor >= 0 else {
            throw CommandExit(.usage, "cannot create \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        let bytes = Array(ExampleConfiguration.yaml.utf8)
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == bytes.count else {
            throw CommandExit(.usage, "cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// The example's mapping, for the tables of a fresh installation.
    private func exampleMapping(_ path: String) throws -> Configuration {
        do {
            return try ConfigurationLoader.load(yaml: ExampleConfiguration.yaml, sourcePath: path)
        } catch {
            // The example names a password file that does not exist yet; only its mapping is used.
            throw CommandExit(.usage, "the example configuration does not load: \(error)")
        }
    }

    private func createTables(at path: String, schema: AppSchema) throws {
        do {
            let store = try SQLiteAppStore(path: path, schema: schema)
            let changes = try store.createDefaultSchemaReportingChanges()
            if changes.isEmpty { print("\(path): the tables are already there") }
            for change in changes { print("\(path): \(change)") }
        } catch let exit as CommandExit {
            throw exit
        } catch {
            throw CommandExit(.usage, "app store \(path): \(error)")
        }
    }
}
