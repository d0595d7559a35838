import LDAPClient

/// Why a run (or another command) stopped; each maps to an exit code of SPEC §9.
public enum RunError: Error, CustomStringConvertible {
    /// Usage or configuration error (2).
    case configuration(String)
    /// Cannot connect, bind or verify TLS; nothing written (3).
    case connection(directory: String, url: String, LDAPError)
    /// Another run holds the lock (4).
    case locked(String)
    /// A safety limit tripped; nothing written (5).
    case safetyLimit(String)
    /// The state store failed (6).
    case stateStore(String)
    /// SIGINT or SIGTERM: stopped at a batch boundary, cursor not advanced (130).
    case interrupted

    public var exitCode: Int32 {
        switch self {
        case .configuration: 2
        case .connection: 3
        case .locked: 4
        case .safetyLimit: 5
        case .stateStore: 6
        case .interrupted: 130
        }
    }

    public var description: String {
        switch self {
        case .configuration(let message): "configuration: \(message)"
        case .connection(let directory, let url, let error): "directory \(directory) (\(url)): \(error); nothing was written and the cursor was not moved"
        case .locked(let message): message
        case .safetyLimit(let message): "safety limit: \(message)"
        case .stateStore(let message): "state store: \(message)"
        case .interrupted: "interrupted: stopped before writing; the cursor was not advanced"
        }
    }
}
