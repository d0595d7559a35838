import ArgumentParser

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one synchronization: fetch changes since the cursor, merge, write both sides, advance the cursor."
    )

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Compute and show the plan; write nothing anywhere.")
    var dryRun = false

    @Flag(help: "Read the whole scope for this run (the stored cursor is not cleared first).")
    var full = false

    @Option(help: ArgumentHelp("Read entries modified since this date for this run.", valueName: "date"))
    var since: String?

    @Option(help: ArgumentHelp("Limit the run to this user key (repeatable); the cursor is not advanced.", valueName: "key"))
    var only: [String] = []

    @Flag(help: "Apply even when a safety limit trips.")
    var force = false

    @Option(help: ArgumentHelp("Write the run summary as JSON to this file.", valueName: "file.json"))
    var report: String?

    @Option(help: ArgumentHelp("Write Prometheus metrics to this file (atomically).", valueName: "file.prom"))
    var metrics: String?

    func run() throws { throw CommandExit.notBuilt("run", issue: 3) }
}

struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show both sides' changes without writing anything (run --dry-run)."
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: ArgumentHelp("Also write the LDAP-side changes as an LDIF change file.", valueName: "file"))
    var ldif: String?

    func run() throws { throw CommandExit.notBuilt("plan", issue: 3) }
}
