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
        case .connection(let directory, let url, let error):
            "directory \(directory) (\(url)): \(Self.explain(error, directory: directory)); nothing was written and the cursor was not moved"
        case .locked(let message): message
        case .safetyLimit(let message): "safety limit: \(message)"
        case .stateStore(let message): "state store: \(message)"
        case .interrupted: "interrupted: stopped before writing; the cursor was not advanced"
        }
    }

    /// A bind refused by Active Directory is named by its `data XXX` sub-code first
    /// (SPEC §8: `account disabled (AD data 533)`), with what to do and the server's own
    /// words; other errors as they are.
    static func explain(_ error: LDAPError, directory: String) -> String {
        guard error.operation == "bind", let ad = error.activeDirectoryCode else { return "\(error)" }
        let words = BindDiagnosis.activeDirectory(ad, error: error, password: "the password configured for the bind",
                                                  check: "ldapsync doctor shows every check", directory: directory)
        let dn = error.dn.map { " as \"\($0)\"" } ?? ""
        let said = [error.code.name + " (\(error.code.rawValue))", error.diagnostic].compactMap { $0 }.joined(separator: ": ")
        return "bind\(dn) failed: \(words.phrase): \(words.advice) (the server said: \(said))"
    }
}
