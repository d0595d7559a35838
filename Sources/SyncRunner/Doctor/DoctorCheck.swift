/// One finding of `ldapsync doctor` (SPEC §10): what was checked, the verdict, and for
/// WARN, FAIL and SKIP what it means and what to do, in an administrator's words.
public struct DoctorCheck: Sendable, Equatable {
    public enum Status: String, Sendable, Comparable {
        case pass = "PASS", warn = "WARN", fail = "FAIL", skip = "SKIP"

        private var rank: Int {
            switch self {
            case .pass: 0
            case .skip: 1
            case .warn: 2
            case .fail: 3
            }
        }

        public static func < (lhs: Status, rhs: Status) -> Bool { lhs.rank < rhs.rank }
    }

    public var status: Status
    /// The configured directory this check is about; nil for configuration, app store and
    /// state store checks.
    public var directory: String?
    /// A short stable name of the area, for `--format json` and for grouping:
    /// `configuration`, `resolve`, `tcp`, `tls`, `bind`, `base`, `rootDSE`, `schema`,
    /// `objectClass`, `timestamp`, `clock`, `sizeLimit`, `app`, `state`, `writeTest`.
    public var area: String
    /// What was checked and what was found, naming the failed part precisely
    /// ("TLS: certificate expired on 2021-01-01 00:00:00 UTC",
    /// "bind: invalid credentials for cn=sync,dc=example,dc=com").
    public var summary: String
    /// For WARN and FAIL, the likely cause and what to change; for SKIP, why the check
    /// could not run. Nil for PASS.
    public var advice: String?

    public init(_ status: Status, directory: String? = nil, area: String, _ summary: String, advice: String? = nil) {
        self.status = status
        self.directory = directory
        self.area = area
        self.summary = summary
        self.advice = advice
    }

    /// The text form: `FAIL  corp  TLS: certificate expired on …`, then the advice
    /// indented on the next line.
    public var text: String {
        let head = "\(status.rawValue)  \(directory.map { "\($0)  " } ?? "")\(summary)"
        guard let advice else { return head }
        return head + "\n      → " + advice
    }
}
