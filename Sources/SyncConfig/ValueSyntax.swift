import DirectoryModel
/// What is wrong with a value's text, for an administrator.
struct SyntaxProblem: Error, Equatable {
    var message: String
    init(_ message: String) { self.message = message }
}

/// The text forms of configuration values that are not plain YAML types.
enum ValueSyntax {
    // MARK: Durations

    private static let durationUnits: [(suffix: String, nanoseconds: Int64)] = [
        ("h", 3_600_000_000_000), ("ms", 1_000_000), ("m", 60_000_000_000), ("s", 1_000_000_000),
    ]
    /// The order units must come in (largest first), by suffix.
    private static let durationOrder = ["h", "m", "s", "ms"]

    /// `30s`, `10m`, `1h`, `2h30m`, `500ms`, or `0`: whole numbers followed by a unit, each
    /// unit at most once, largest first.
    static func duration(_ text: String) -> Result<Duration, SyntaxProblem> {
        let expected = "expected a duration such as 30s, 10m, 1h, 2h30m or 500ms"
        if text == "0" { return .success(.zero) }
        var rest = Substring(text)
        var total: Int64 = 0
        var lastUnit = -1
        guard !rest.isEmpty else { return .failure(SyntaxProblem(expected)) }
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty else {
                return .failure(SyntaxProblem("\(expected), found \(text.debugDescription)"))
            }
            rest = rest.dropFirst(digits.count)
            let unitText = rest.prefix { $0.isASCII && $0.isLetter }
            rest = rest.dropFirst(unitText.count)
            guard !unitText.isEmpty else {
                return .failure(SyntaxProblem("\(expected): \(text.debugDescription) needs a unit (h, m, s or ms)"))
            }
            guard let unit = durationUnits.first(where: { $0.suffix == String(unitText) }),
                  let order = durationOrder.firstIndex(of: unit.suffix) else {
                return .failure(SyntaxProblem("\(expected): unknown unit \(String(unitText).debugDescription) (use h, m, s or ms)"))
            }
            guard order > lastUnit else {
                return .failure(SyntaxProblem("\(expected): write each unit once, largest first (2h30m, not 30m2h)"))
            }
            lastUnit = order
            guard let count = Int64(digits) else { return .failure(SyntaxProblem("\(text) is too long")) }
            let (product, overflow) = count.multipliedReportingOverflow(by: unit.nanoseconds)
            let (sum, overflow2) = total.addingReportingOverflow(product)
            guard !overflow, !overflow2 else { return .failure(SyntaxProblem("\(text) is too long")) }
            total = sum
        }
        return .success(.nanoseconds(total))
    }

    // MARK: Limits

    /// A count (`50`) or a percentage from 0 to 100 (`5%`, `0.5%`).
    static func limit(_ text: String) -> Result<Limit, SyntaxProblem> {
        let expected = "expected a count such as 50 or a percentage such as 5% or 0.5%, found \(text.debugDescription)"
        if text.hasSuffix("%") {
            let number = text.dropLast()
            let parts = number.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
            guard !parts.isEmpty, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }),
                  let percent = Double(number) else {
                return .failure(SyntaxProblem(expected))
            }
            guard percent <= 100 else {
                return .failure(SyntaxProblem("a percentage must be from 0% to 100%, found \(text)"))
            }
            return .success(.percent(percent))
        }
        guard !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            if text.hasPrefix("-") { return .failure(SyntaxProblem("a limit cannot be negative, found \(text)")) }
            return .failure(SyntaxProblem(expected))
        }
        guard let count = Int(text) else { return .failure(SyntaxProblem("\(text) is too large")) }
        return .success(.count(count))
    }

    // MARK: Timestamp patterns

    /// The pattern presets and the two spellings administrators already type (SPEC §4).
    static let timestampPresets = ["openldap", "ad", "yyyyMMddHHmmssZ", "yyyyMMddHHmmss.Z"]

    /// Checks a date pattern with ``TimestampPattern``, the same parser the run uses:
    /// fields `yyyy MM dd HH mm ss`, `S` per fraction digit, `Z` for the UTC designator,
    /// literal text in quotes. With `presets`, the names `openldap` and `ad` are accepted
    /// too.
    static func checkDatePattern(_ text: String, presets: Bool) -> SyntaxProblem? {
        if !presets, ["openldap", "ad"].contains(text.lowercased()) {
            return SyntaxProblem("expected a pattern such as dd-MM-yyyy HH:mm:ss, not the preset \(text)")
        }
        do {
            _ = try TimestampPattern(text)
            return nil
        } catch {
            return SyntaxProblem("\(text.debugDescription) is not a usable pattern: expected \(error.expected)")
        }
    }

    // MARK: Names

    /// A SQL identifier ldapsync accepts for a table or column: `[A-Za-z_][A-Za-z0-9_]*`,
    /// at most 63 characters (PostgreSQL truncates longer names).
    static func checkIdentifier(_ text: String) -> SyntaxProblem? {
        let bytes = Array(text.utf8)
        let valid = !bytes.isEmpty && (ASCIIClass.isLetter(bytes[0]) || bytes[0] == UInt8(ascii: "_"))
            && bytes.allSatisfy { ASCIIClass.isLetter($0) || ASCIIClass.isDigit($0) || $0 == UInt8(ascii: "_") }
        guard valid else {
            return SyntaxProblem("\(text.debugDescription) is not a valid table or column name: use letters, digits and _, not starting with a digit")
        }
        guard bytes.count <= 63 else {
            return SyntaxProblem("\(text.debugDescription) is longer than 63 characters, which PostgreSQL would truncate")
        }
        return nil
    }

    /// An environment variable name: `[A-Za-z_][A-Za-z0-9_]*`.
    static func isEnvironmentName(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return !bytes.isEmpty && !ASCIIClass.isDigit(bytes[0])
            && bytes.allSatisfy { ASCIIClass.isLetter($0) || ASCIIClass.isDigit($0) || $0 == UInt8(ascii: "_") }
    }

    /// A directory name: letters, digits, `-`, `_` and `.` (it keys the state store).
    static func isDirectoryName(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy {
            ASCIIClass.isLetter($0) || ASCIIClass.isDigit($0) || [UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: ".")].contains($0)
        }
    }

    /// An attribute description (RFC 4512): a name (`mail`) or a dotted OID
    /// (`0.9.2342.19200300.100.1.3`), optionally with options (`userCertificate;binary`).
    static func isAttributeDescription(_ text: String) -> Bool {
        let parts = text.split(separator: ";", omittingEmptySubsequences: false).map { Array($0.utf8) }
        guard let type = parts.first, !type.isEmpty else { return false }
        let isName = ASCIIClass.isLetter(type[0])
            && type.allSatisfy { ASCIIClass.isLetter($0) || ASCIIClass.isDigit($0) || $0 == UInt8(ascii: "-") }
        let arcs = type.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        let isOID = arcs.count >= 2 && arcs.allSatisfy { arc in
            !arc.isEmpty && arc.allSatisfy(ASCIIClass.isDigit) && (arc.count == 1 || arc.first != UInt8(ascii: "0"))
        }
        let optionsValid = parts.dropFirst().allSatisfy { option in
            !option.isEmpty && option.allSatisfy { ASCIIClass.isLetter($0) || ASCIIClass.isDigit($0) || $0 == UInt8(ascii: "-") }
        }
        return (isName || isOID) && optionsValid
    }

    // MARK: Paths

    /// `path` made absolute against `directory` (itself absolute) when it is relative,
    /// with `.` components and repeated slashes removed. Absolute paths are kept as
    /// written; `~` is not expanded.
    static func resolve(_ path: String, against directory: String) -> String {
        guard !path.hasPrefix("/") else { return path }
        let components = (directory + "/" + path).split(separator: "/").filter { $0 != "." }
        return "/" + components.joined(separator: "/")
    }

    /// The absolute directory holding `file`, a path absolute or relative to
    /// `currentDirectory`.
    static func directory(of file: String, currentDirectory: String) -> String {
        guard !file.isEmpty else { return currentDirectory }
        let absolute = resolve(file, against: currentDirectory)
        guard let slash = absolute.lastIndex(of: "/"), slash != absolute.startIndex else { return "/" }
        return String(absolute[..<slash])
    }
}

enum ASCIIClass {
    static func isLetter(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }

    static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
}

/// "Did you mean …?" for misspelt keys and values.
enum Suggestion {
    /// The candidate closest to `word` (case-insensitive optimal string alignment
    /// distance, so a swapped pair of letters counts once), if it is close enough to be
    /// a typo: one edit for words of up to 3 letters, else 2 or a third of the length.
    static func closest(to word: String, among candidates: [String]) -> String? {
        let folded = Array(word.lowercased())
        let threshold = folded.count <= 3 ? 1 : max(2, folded.count / 3)
        var best: (candidate: String, distance: Int)?
        for candidate in candidates {
            let distance = self.distance(folded, Array(candidate.lowercased()))
            if distance <= threshold, distance < (best?.distance ?? .max) {
                best = (candidate, distance)
            }
        }
        return best?.candidate
    }

    static func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { table[i][0] = i }
        for j in 0...b.count { table[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    table[i][j] = min(table[i][j], table[i - 2][j - 2] + 1)
                }
            }
        }
        return table[a.count][b.count]
    }
}
