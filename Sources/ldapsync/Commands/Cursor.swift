import ArgumentParser

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
        func run() throws { throw CommandExit.notBuilt("cursor show", issue: 3) }
    }

    struct Clear: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Clear the cursor: the next run reads the whole scope.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var target: DirectoryOption
        func run() throws { throw CommandExit.notBuilt("cursor clear", issue: 3) }
    }

    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set the cursor: the next run reads entries modified since DATE.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var target: DirectoryOption
        @Argument(help: "The date, in the display format (default dd-MM-yyyy HH:mm:ss, UTC) or ISO 8601.")
        var date: String
        func run() throws { throw CommandExit.notBuilt("cursor set", issue: 3) }
    }
}
