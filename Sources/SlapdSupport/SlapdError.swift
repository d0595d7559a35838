import Foundation

/// Why the test harness could not start, stop or talk to its slapd.
///
/// Descriptions carry the command line (never a secret: passwords are passed in
/// files) and the tail of the tool's or slapd's own output, which is what one needs
/// to see when a test fails on a machine one cannot log in to.
public enum SlapdError: Error, CustomStringConvertible, Sendable {
    /// The configuration cannot describe a directory (for example a suffix whose
    /// first RDN is not `dc`, `o` or `ou`, or an ldapi socket path over 107 bytes).
    case invalidConfiguration(String)
    /// A helper tool (`slapadd`, `ldapadd`, `openssl`, …) exited with a failure.
    case commandFailed(command: String, status: Int32, output: String)
    /// A helper tool did not finish in time and was killed.
    case commandTimedOut(command: String, seconds: Double)
    /// A helper tool could not be launched at all.
    case launchFailed(command: String, reason: String)
    /// slapd exited before it accepted connections.
    case exitedDuringStartup(status: Int32, log: String)
    /// slapd was still not accepting connections when the start timeout ran out.
    case startTimedOut(seconds: Double, log: String)
    /// slapd did not exit within the stop timeout after SIGTERM; it was then killed.
    case stopTimedOut(seconds: Double, log: String)
    /// The operation needs a running server.
    case notRunning
    /// The operation needs a stopped server.
    case alreadyRunning(pid: pid_t)

    public var description: String {
        switch self {
        case .invalidConfiguration(let reason):
            return "invalid slapd test configuration: \(reason)"
        case .commandFailed(let command, let status, let output):
            return "`\(command)` failed with exit status \(status):\n\(output)"
        case .commandTimedOut(let command, let seconds):
            return "`\(command)` did not finish within \(seconds) s and was killed"
        case .launchFailed(let command, let reason):
            return "could not launch `\(command)`: \(reason)"
        case .exitedDuringStartup(let status, let log):
            return "slapd exited with status \(status) before accepting connections; its log ends with:\n\(log)"
        case .startTimedOut(let seconds, let log):
            return "slapd did not accept connections within \(seconds) s; its log ends with:\n\(log)"
        case .stopTimedOut(let seconds, let log):
            return "slapd did not exit within \(seconds) s of SIGTERM and was killed; its log ends with:\n\(log)"
        case .notRunning:
            return "slapd is not running"
        case .alreadyRunning(let pid):
            return "slapd is already running (pid \(pid))"
        }
    }
}

/// The last `limit` characters of `text`, marked as cut when they are.
func tail(_ text: String, limit: Int = 4000) -> String {
    guard text.count > limit else { return text }
    return "…" + text.suffix(limit)
}
