import ArgumentParser
import DirectoryModel
import SyncConfig
import SyncRunner
#if canImport(Glibc)
import Glibc
#endif

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

    @Option(help: ArgumentHelp("Write the run summary as JSON to this file (atomically, for every outcome).", valueName: "file.json"))
    var report: String?

    @Option(help: ArgumentHelp("Write Prometheus metrics for node_exporter's textfile collector to this file (atomically).", valueName: "file.prom"))
    var metrics: String?

    func run() throws {
        var options = RunOptions()
        options.dryRun = dryRun
        options.full = full
        options.force = force
        options.only = only
        try performRun(global: global, options: options, since: since, outputs: RunOutputs(reportPath: report, metricsPath: metrics))
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

/// The shared body of `run` and `plan`. Whatever the outcome, the report and the metrics
/// asked for are written before the process exits (a usage error found by the argument
/// parser, before this runs, has neither).
func performRun(global: GlobalOptions, options: RunOptions, since: String?, outputs: RunOutputs = RunOutputs(reportPath: nil, metricsPath: nil)) throws {
    let started = wallClockNow()
    do {
        try outputs.checkWritable()
    } catch {
        throw CommandExit(.usage, "ldapsync: \(error); nothing was done")
    }
    var configuration: Configuration?
    var options = options
    do {
        configuration = try global.loadConfiguration()
        if let since, let configuration { options.since = try parseTypedDate(since, configuration: configuration) }
    } catch let exit as CommandExit {
        let result = RunResult.stoppedBeforeStart(started: started, dryRun: options.dryRun, message: exit.message ?? "\(exit.status)",
                                                  exitCode: exit.status.rawValue)
        throw writeOutputs(outputs, result, configuration: configuration, exit: exit)
    }
    guard let configuration else { return }
    let logger = global.bootstrapLogging()
    Interruption.install()
    let progressLine = ProgressLine.forStandardError
    let runner = SyncRunner(configuration: configuration, logger: logger,
                            output: { line in
                                progressLine?.clear()
                                print(line)
                            },
                            isInterrupted: { Interruption.isRequested },
                            progress: progressLine.map { line in { line.handle($0) } })
    let result = runner.execute(options)
    progressLine?.clear()
    if let error = result.error {
        throw writeOutputs(outputs, result, configuration: configuration, exit: exitFor(error))
    }
    print(DirectorySummary.table(result.summaries))
    for summary in result.summaries {
        for failure in summary.failures { print("FAILED \(summary.directory): \(failure)") }
        if let after = summary.cursorAfter, after != summary.cursorBefore { print("\(summary.directory): cursor \(summary.cursorBefore ?? "(none)") → \(after) UTC") }
    }
    let exit = writeOutputs(outputs, result, configuration: configuration,
                            exit: CommandExit(ExitStatus(rawValue: result.exitCode) ?? .partial))
    if exit.status != .success { throw exit }
}

/// Writes the report and the metrics; returns how the process ends. A file that cannot be
/// written is reported on stderr and, after a run that otherwise ends with 0 or 1, makes
/// the exit code 2: monitoring that reads the file must not silently see an old one.
private func writeOutputs(_ outputs: RunOutputs, _ result: RunResult, configuration: Configuration?, exit: CommandExit) -> CommandExit {
    let errors = outputs.write(result, configuration: configuration)
    guard !errors.isEmpty else { return exit }
    var standardError = StandardError()
    for error in errors { print("ldapsync: cannot write \(error)", to: &standardError) }
    return exit.status.rawValue <= 1 ? CommandExit(.usage, exit.message) : exit
}

/// The wall clock (the run's start time in a report of a run that stopped early).
func wallClockNow() -> Timestamp {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Timestamp(seconds: Int64(now.tv_sec), nanoseconds: Int32(now.tv_nsec))
}
