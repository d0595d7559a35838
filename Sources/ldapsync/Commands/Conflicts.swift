import ArgumentParser

struct Conflicts: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List pending manual conflicts, or settle one.",
        subcommands: [List.self, Resolve.self],
        defaultSubcommand: List.self
    )

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List pending conflicts.")
        @OptionGroup var global: GlobalOptions
        func run() throws { throw CommandExit.notBuilt("conflicts list", issue: 4) }
    }

    struct Resolve: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Settle a conflict; the next run applies it.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The user key.") var key: String
        @Argument(help: "The attribute (LDAP name or app column).") var attribute: String
        @Option(help: "Which side's value to keep.") var take: Side

        enum Side: String, ExpressibleByArgument, CaseIterable { case ldap, app }

        func run() throws { throw CommandExit.notBuilt("conflicts resolve", issue: 4) }
    }
}
