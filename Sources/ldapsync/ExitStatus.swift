/// The process exit codes of SPEC §9. Cron wrappers and monitoring rely on them.
enum ExitStatus: Int32 {
    /// Success.
    case success = 0
    /// Finished, but some entries failed or conflicts are pending.
    case partial = 1
    /// Usage or configuration error (also: a command this build does not have yet).
    case usage = 2
    /// Cannot connect, bind or verify TLS; nothing was written.
    case connection = 3
    /// Another run holds the lock.
    case locked = 4
    /// A safety limit tripped; nothing was written.
    case safetyLimit = 5
    /// State store error.
    case stateStore = 6
    /// Interrupted by SIGINT/SIGTERM at a batch boundary; the cursor was not advanced.
    case interrupted = 130
}

/// Thrown by a command to end the process with a documented exit code after it has
/// printed its own message.
struct CommandExit: Error {
    let status: ExitStatus
    let message: String?

    init(_ status: ExitStatus, _ message: String? = nil) {
        self.status = status
        self.message = message
    }
}
