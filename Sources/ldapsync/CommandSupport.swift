import DirectoryModel
import Logging
import SyncConfig
import SyncRunner
#if canImport(Glibc)
import Glibc
#endif

extension GlobalOptions {
    /// Loads and validates the configuration; any problem ends the process with exit 2
    /// and a message naming file, line and key.
    func loadConfiguration() throws -> Configuration {
        let path = ConfigurationLoader.locate(explicit: config)
        do {
            return try ConfigurationLoader.load(path: path)
        } catch {
            throw CommandExit(.usage, "\(error)")
        }
    }

    /// Bootstraps logging to stderr (results go to stdout), as text or as JSON lines.
    /// Only the executable does this.
    func bootstrapLogging() -> Logger {
        let level: Logger.Level = switch logLevel {
        case .trace: .trace
        case .debug: .debug
        case .info: .info
        case .warning: .warning
        case .error: .error
        }
        LoggingBootstrap.once(level: level, format: logFormat)
        var logger = Logger(label: "ldapsync")
        logger.logLevel = level
        return logger
    }
}

enum LoggingBootstrap {
    nonisolated(unsafe) private static var done = false

    static func once(level: Logger.Level, format: GlobalOptions.LogFormat) {
        guard !done else { return }
        done = true
        let progress = ProgressLine.forStandardError
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler = switch format {
            case .text: StreamLogHandler.standardError(label: label)
            case .json: JSONLogHandler(label: label, level: level)
            }
            handler.logLevel = level
            guard let progress else { return handler }
            return ProgressClearingLogHandler(inner: handler, line: progress)
        }
    }
}

/// SIGINT and SIGTERM set a flag that the run polls at batch boundaries, so it stops
/// cleanly without advancing the cursor (exit 130).
enum Interruption {
    nonisolated(unsafe) private static var received: sig_atomic_t = 0

    static func install() {
        signal(SIGINT) { _ in Interruption.received = 1 }
        signal(SIGTERM) { _ in Interruption.received = 1 }
        // A blocked signal mask survives exec: a parent that blocks them (Foundation's
        // Process spawning from a thread that blocks them does) would make both signals
        // pend forever and the run ignore them. Found by the soak test.
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &signals, nil)
    }

    static var isRequested: Bool { received != 0 }
}

/// Maps a run error to its exit code after printing it.
func exitFor(_ error: RunError) -> CommandExit {
    let status = ExitStatus(rawValue: error.exitCode) ?? .partial
    return CommandExit(status, "ldapsync: \(error)")
}

/// Parses a typed date: the configured display format (default dd-MM-yyyy HH:mm:ss, UTC)
/// or ISO 8601.
func parseTypedDate(_ text: String, configuration: Configuration) throws -> Timestamp {
    do {
        return try TimestampPattern(configuration.cursor.display).parseTyped(text)
    } catch {
        throw CommandExit(.usage, "\(error)")
    }
}

func displayDate(_ timestamp: Timestamp, configuration: Configuration) -> String {
    ((try? TimestampPattern(configuration.cursor.display))?.format(timestamp) ?? timestamp.iso8601) + " UTC"
}
