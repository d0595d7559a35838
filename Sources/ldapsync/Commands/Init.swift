import ArgumentParser

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a commented example configuration and create the default SQLite tables."
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: ArgumentHelp("The SQLite app database to create tables in.", valueName: "path"))
    var sqlite: String?

    func run() throws { throw CommandExit.notBuilt("init", issue: 3) }
}
