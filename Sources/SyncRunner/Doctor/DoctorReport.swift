import DirectoryModel

/// What `ldapsync doctor` prints: the checks as text for a person, or as one JSON object
/// for monitoring, and the verdict that decides the exit code (0 without FAIL, else 1).
public struct DoctorReport: Sendable {
    public var checks: [DoctorCheck]

    public init(checks: [DoctorCheck]) {
        self.checks = checks
    }

    /// FAIL when any check failed, else WARN when any warned, else PASS (SKIP alone does
    /// not lower the verdict: the line above it that caused it does).
    public var status: DoctorCheck.Status {
        if checks.contains(where: { $0.status == .fail }) { return .fail }
        if checks.contains(where: { $0.status == .warn }) { return .warn }
        return .pass
    }

    /// 0 when no check failed, 1 otherwise.
    public var exitCode: Int32 { status == .fail ? 1 : 0 }

    private func tally(_ status: DoctorCheck.Status) -> Int {
        checks.lazy.filter { $0.status == status }.count
    }

    /// One line per check (its advice indented below it), then the tally:
    /// `doctor: FAIL (12 passed, 1 warning, 3 failed, 2 skipped)`.
    public var text: String {
        var lines = checks.map(\.text)
        lines.append("doctor: \(status.rawValue) (\(tally(.pass)) passed, \(count(tally(.warn), "warning", "warnings")), \(tally(.fail)) failed, \(tally(.skip)) skipped)")
        return lines.joined(separator: "\n")
    }

    /// `{"status":"FAIL","pass":12,"warn":1,"fail":3,"skip":2,"checks":[{"status":"FAIL","directory":"corp","area":"bind","summary":"…","advice":"…"},…]}`;
    /// `directory` and `advice` are left out when there is none.
    public var json: String {
        var out: [UInt8] = []
        func key(_ name: String) {
            JSONStringArray.appendString(name.utf8, to: &out)
            out.append(UInt8(ascii: ":"))
        }
        func string(_ name: String, _ value: String) {
            key(name)
            JSONStringArray.appendString(value.utf8, to: &out)
        }
        out.append(UInt8(ascii: "{"))
        string("status", status.rawValue)
        for counted in [DoctorCheck.Status.pass, .warn, .fail, .skip] {
            out.append(UInt8(ascii: ","))
            key(counted.rawValue.lowercased())
            out += Array(String(tally(counted)).utf8)
        }
        out.append(UInt8(ascii: ","))
        key("checks")
        out.append(UInt8(ascii: "["))
        for (index, check) in checks.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "{"))
            string("status", check.status.rawValue)
            if let directory = check.directory {
                out.append(UInt8(ascii: ","))
                string("directory", directory)
            }
            out.append(UInt8(ascii: ","))
            string("area", check.area)
            out.append(UInt8(ascii: ","))
            string("summary", check.summary)
            if let advice = check.advice {
                out.append(UInt8(ascii: ","))
                string("advice", advice)
            }
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "]"))
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }
}
