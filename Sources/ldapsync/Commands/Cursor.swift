import ArgumentParser
import SyncRunner

struct Cursor: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show, clear (next run is full) or set (next run backfills) the per-directory cursor.",
        subcommands: [Show.self, Clear.self, Set.self]
    )

    struct DirectoryOption: ParsableArguments {
        @Option(help: ArgumentHelp("Only this directory (default: all).", valueName: "name"))
        var directory: String?
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print each directory's cursor.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var target: DirectoryOption

        func run() throws {
            let configuration = try global.loadConfiguration()
            let status: [StateCommands.DirectoryStatus]
            do { status = try StateCommands(configuration: configuration).status().directories } catch { throw exitFor(error) }
            for directory in status where target.directory == nil || target.directory == directory.directory {
                let cursor = directory.cursor.map { displayDate($0, configuration: configuration) } ?? "(none: the next run is a full run)"
                print("\(directory.directory): \(cursor)")
            }
        }
    }

    struct Clear: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Clear the cursor: the next run reads the whole scope.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var target: DirectoryOption

        func run() throws {
            let configuration = try global.loadConfiguration()
            do {
                for name in try StateCommands(configuration: configuration).setCursor(nil, directory: target.directory) {
                    print("\(name): cursor cleared; the next run is a full run")
                }
            } catch { throw exitFor(error) }
        }
    }

    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set the cursor: the next run reads entries modified since DATE.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var target: DirectoryOption
        @Argument(help: "The date, in the display format (default dd-MM-yyyy HH:mm:ss, UTC) or ISO 8601.")
        var date: String

        func run() throws {
            let configuration = try global.loadConfiguration()
            let timestamp = try parseTypedDate(date, configuration: configuration)
            do {
                for name in try StateCommands(configuration: configuration).setCursor(timestamp, directory: target.directory) {
                    print("\(name): cursor set to \(displayDate(timestamp, configuration: configuration)); the next run reads entries modified since then")
                }
            } catch { throw exitFor(error) }
        }
    }
}
