import ArgumentParser
import SyncRunner

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

    func run() throws {
        if report != nil { throw CommandExit(.usage, "ldapsync run --report: not available in this build yet (planned in issue #5); nothing was done") }
        if metrics != nil { throw CommandExit(.usage, "ldapsync run --metrics: not available in this build yet (planned in issue #5); nothing was done") }
        var options = RunOptions()
        options.dryRun = dryRun
        options.full = full
        options.force = force
        options.only = only
        try performRun(global: global, options: options, since: since)
    }
}

struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show both sides' changes without writing anything (run --dry-run)."
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: ArgumentHelp("Also write the LDAP-side changes as an LDIF change file.", valueName: "file"))
    var ldif: String?

    func run() throws {
        var options = RunOptions()
        options.dryRun = true
        options.ldifPath = ldif
        try performRun(global: global, options: options, since: nil)
    }
}

/// The shared body of `run` and `plan`.
func performRun(global: GlobalOptions, options: RunOptions, since: String?) throws {
    let configuration = try global.loadConfiguration()
    let logger = try global.bootstrapLogging()
    var options = options
    if let since { options.since = try parseTypedDate(since, configuration: configuration) }
    Interruption.install()
    let runner = SyncRunner(configuration: configuration, logger: logger, output: { print($0) },
                            isInterrupted: { Interruption.isRequested })
    let outcome: RunOutcome
    do {
        outcome = try runner.run(options)
    } catch {
        throw exitFor(error)
    }
    print(DirectorySummary.table(outcome.summaries))
    for summary in outcome.summaries {
        for failure in summary.failures { print("FAILED \(summary.directory): \(failure)") }
        if let after = summary.cursorAfter, after != summary.cursorBefore { print("\(summary.directory): cursor \(summary.cursorBefore ?? "(none)") → \(after) UTC") }
    }
    if outcome.exitCode != 0 { throw CommandExit(.partial) }
}
