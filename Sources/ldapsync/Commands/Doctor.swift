import ArgumentParser
import SyncConfig
import SyncRunner

struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check configuration, network, TLS, binds, schema, timestamps, app store and state store; name what is broken.",
        discussion: "Each check prints PASS, WARN, FAIL or SKIP, and for WARN, FAIL and SKIP what to do. Nothing is written, except with --write-test. Exit 0 when no check failed, 1 otherwise."
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: ArgumentHelp("Rewrite each write-back attribute of this user with its current value to test write access.", valueName: "key"))
    var writeTest: String?

    @Option(help: "Output: text (one line per check) or json (for monitoring).")
    var format: OutputFormat = .text

    enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
        case text, json
    }

    func run() throws {
        let logger = global.bootstrapLogging()
        // A configuration that does not load is a FAIL line, not exit 2: the doctor's job
        // is to say what is wrong with it.
        let path = ConfigurationLoader.locate(explicit: global.config)
        // `SyncRunner::Doctor`: the library's doctor; `SyncRunner.Doctor` would look inside
        // the class SyncRunner, and plain `Doctor` is this command.
        let checks = SyncRunner::Doctor(configurationPath: path, logger: logger, writeTestKey: writeTest).run()
        let report = DoctorReport(checks: checks)
        print(format == .json ? report.json : report.text)
        guard report.exitCode == 0 else { throw CommandExit(.partial) }
    }
}
