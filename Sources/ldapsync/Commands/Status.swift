import ArgumentParser

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show cursors, last runs, the retry set and pending conflicts."
    )

    @OptionGroup var global: GlobalOptions

    func run() throws { throw CommandExit.notBuilt("status", issue: 3) }
}
