import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Why the test harness could not provision, start, stop or change its Samba DC.
///
/// Descriptions carry the command line (never a secret: passwords reach the tools in
/// 0600 files) and the tail of the tool's or Samba's own log.
public enum SambaError: Error, CustomStringConvertible, Sendable {
    /// This machine cannot run a Samba DC; the text says why (see `SambaDC.availability()`).
    case unavailable(String)
    /// A helper tool (`samba-tool`, `ldapadd`, `openssl`, …) exited with a failure.
    case commandFailed(command: String, status: Int32, output: String)
    /// `samba` exited before its LDAP listeners accepted connections.
    case exitedDuringStartup(address: String, status: Int32, log: String)
    /// `samba` did not listen on its LDAP ports within the start timeout; it was killed.
    case startTimedOut(address: String, seconds: Double, log: String)
    /// Every loopback address tried was taken (another DC or slapd on port 389 there).
    case noFreeAddress(tried: [String])
    /// `samba` did not exit within the stop timeout after SIGTERM; it was then killed.
    case stopTimedOut(pid: pid_t, seconds: Double, log: String)
    /// The operation needs a running DC.
    case notRunning
    /// A step of the harness itself failed (creating a file, launching a tool).
    case harness(String)

    public var description: String {
        switch self {
        case .unavailable(let reason):
            return "a Samba AD DC cannot run here: \(reason)"
        case .commandFailed(let command, let status, let output):
            return "`\(command)` failed with exit status \(status):\n\(output)"
        case .exitedDuringStartup(let address, let status, let log):
            return "samba on \(address) exited with status \(status) before listening; its log ends with:\n\(log)"
        case .startTimedOut(let address, let seconds, let log):
            return "samba on \(address) did not listen on its LDAP ports within \(seconds) s; its log ends with:\n\(log)"
        case .noFreeAddress(let tried):
            return "no free loopback address for a Samba DC: port 389 was taken on \(tried.joined(separator: ", "))"
        case .stopTimedOut(let pid, let seconds, let log):
            return "samba (pid \(pid)) did not exit within \(seconds) s of SIGTERM and was killed; its log ends with:\n\(log)"
        case .notRunning:
            return "the Samba DC is not running"
        case .harness(let reason):
            return "the Samba test harness failed: \(reason)"
        }
    }
}

/// The last `limit` characters of `text`, marked as cut when they are.
func tail(_ text: String, limit: Int = 4000) -> String {
    guard text.count > limit else { return text }
    return "…" + text.suffix(limit)
}
