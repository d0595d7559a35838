import ArgumentParser

struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check configuration, network, TLS, binds, schema, timestamps, app store and state store; name what is broken."
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: ArgumentHelp("Rewrite each write-back attribute of this user with its current value to test write access.", valueName: "key"))
    var writeTest: String?

    func run() throws { throw CommandExit.notBuilt("doctor", issue: 5) }
}
