/// A configuration that cannot be used, located for the administrator who has to fix it.
///
/// The description reads like a compiler diagnostic,
/// `ldapsync.yaml:7:5: directories[0].usres: unknown key; did you mean users? …`, so that
/// editors and `grep` can jump to it. It never contains a secret's value: the
/// configuration holds no secrets (inline passwords are refused), and errors about a
/// password file or variable name the file or variable, never its contents.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The configuration file (as given on the command line), or empty when the error is
    /// not about a file.
    public var file: String
    /// The line in `file`, from 1; nil when the problem is not at one place in the file
    /// (an unreadable file, a password file that cannot be used).
    public var line: Int?
    /// The column on `line`, from 1, counted in Unicode scalars.
    public var column: Int?
    /// Where in the configuration the problem is, such as `directories[0].users.base`;
    /// empty for problems of the file as a whole (YAML syntax, an unreadable file).
    public var keyPath: String
    /// What is wrong and what was expected.
    public var message: String

    public init(file: String, line: Int?, column: Int? = nil, keyPath: String, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.keyPath = keyPath
        self.message = message
    }

    /// `FILE:LINE:COLUMN: KEYPATH: MESSAGE`, leaving out the parts that are unknown.
    public var description: String {
        var location = file
        if let line {
            location += ":\(line)"
            if let column { location += ":\(column)" }
        }
        var parts: [String] = []
        if !location.isEmpty { parts.append(location) }
        if !keyPath.isEmpty { parts.append(keyPath) }
        parts.append(message)
        return parts.joined(separator: ": ")
    }
}
