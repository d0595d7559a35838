import ArgumentParser

/// Options every command takes (SPEC §9).
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Configuration file (default ./ldapsync.yaml, then /etc/ldapsync/ldapsync.yaml).", valueName: "path"))
    var config: String?

    @Option(name: .long, help: "Log level: trace, debug, info, warning, error.")
    var logLevel: LogLevel = .info

    @Option(name: .long, help: "Log format on stderr: text or json.")
    var logFormat: LogFormat = .text

    enum LogLevel: String, ExpressibleByArgument, CaseIterable {
        case trace, debug, info, warning, error
    }

    enum LogFormat: String, ExpressibleByArgument, CaseIterable {
        case text, json
    }
}
