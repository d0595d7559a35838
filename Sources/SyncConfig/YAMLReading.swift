import Yams

/// A line and column in the configuration file, both from 1.
struct Position: Sendable, Equatable {
    var line: Int
    var column: Int

    static let start = Position(line: 1, column: 1)
}

extension Node {
    var position: Position? { mark.map { Position(line: $0.line, column: $0.column) } }

    /// A plain (unquoted) scalar that YAML reads as null: nothing, `~` or `null`.
    var isNull: Bool {
        guard case .scalar(let scalar) = self, scalar.style == .plain else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    /// What the node is, for "expected …, found …" messages.
    var found: String {
        switch self {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar(let scalar):
            if isNull { return "nothing (null)" }
            let text = scalar.string.count > 40 ? String(scalar.string.prefix(40)) + "…" : scalar.string
            return scalar.style == .plain ? text.debugDescription : "the quoted string \(text.debugDescription)"
        }
    }
}

/// One mapping of the file with its key path, for reading keys one at a time.
struct Section {
    struct Entry {
        var key: String
        var keyPosition: Position?
        var value: Node
    }

    /// The key path of the mapping itself (`directories[0].users`); empty for the root.
    let path: String
    /// Where to report a missing key: the key that introduced the mapping, or its start.
    let position: Position?
    /// The entries in the order written.
    let entries: [Entry]

    func entry(_ key: String) -> Entry? { entries.first { $0.key == key } }

    /// The key path of `key` in this mapping.
    func path(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
}

/// Walks the composed YAML tree, turning each value into its Swift type or into a
/// `ConfigurationError` that names the file, line, column and key path.
///
/// Values are read from the scalars' text, not through YAML's implicit typing: a quoted
/// `"true"` is a string, `yes` is not a boolean (YAML 1.1 surprises), `1_000` is not an
/// integer.
struct NodeReader {
    let file: String

    func error(_ position: Position?, _ keyPath: String, _ message: String) -> ConfigurationError {
        ConfigurationError(file: file, line: position?.line, column: position?.column, keyPath: keyPath, message: message)
    }

    // MARK: Mappings

    /// The mapping `node`, with string keys; `position` is where a missing key is
    /// reported (the key that introduced the mapping).
    func section(_ node: Node, path: String, position: Position?) throws(ConfigurationError) -> Section {
        guard case .mapping(let mapping) = node else {
            throw error(node.position, path, "expected a mapping of keys to values, found \(node.found)")
        }
        var entries: [Section.Entry] = []
        for (key, value) in mapping {
            guard case .scalar(let scalar) = key, !key.isNull else {
                throw error(key.position, path, "expected a key name, found \(key.found)")
            }
            entries.append(.init(key: scalar.string, keyPosition: key.position, value: value))
        }
        return Section(path: path, position: position ?? node.position, entries: entries)
    }

    /// The mapping at `key` of `parent`, or nil when the key is absent or null (all
    /// defaults).
    func optionalSection(_ parent: Section, _ key: String) throws(ConfigurationError) -> Section? {
        guard let entry = parent.entry(key), !entry.value.isNull else { return nil }
        return try section(entry.value, path: parent.path(key), position: entry.keyPosition)
    }

    /// The mapping at `key` of `parent`; absent or null is an error.
    func requiredSection(_ parent: Section, _ key: String, _ what: String) throws(ConfigurationError) -> Section {
        guard let section = try optionalSection(parent, key) else {
            throw missing(parent, key, what)
        }
        return section
    }

    func missing(_ section: Section, _ key: String, _ what: String) -> ConfigurationError {
        let position = section.entry(key)?.keyPosition ?? section.position
        return error(position, section.path(key), "required key missing: expected \(what)")
    }

    /// Rejects every key of `section` not in `allowed`, suggesting the closest one.
    func checkKeys(_ section: Section, allowed: [String]) throws(ConfigurationError) {
        for entry in section.entries where !allowed.contains(entry.key) {
            var message = "unknown key."
            if let suggestion = Suggestion.closest(to: entry.key, among: allowed) {
                message = "unknown key; did you mean \(suggestion)?"
            }
            message += " Expected keys: \(allowed.joined(separator: ", "))"
            throw error(entry.keyPosition, section.path(entry.key), message)
        }
    }

    // MARK: Lists

    /// The items of the list `node` (null is the empty list).
    func list(_ node: Node, path: String) throws(ConfigurationError) -> [Node] {
        if node.isNull { return [] }
        guard case .sequence(let sequence) = node else {
            throw error(node.position, path, "expected a list, found \(node.found)")
        }
        return Array(sequence)
    }

    // MARK: Scalars

    /// A non-empty string; plain or quoted.
    func string(_ node: Node, _ path: String) throws(ConfigurationError) -> String {
        guard case .scalar(let scalar) = node, !node.isNull else {
            throw error(node.position, path, "expected a string, found \(node.found)")
        }
        guard !scalar.string.isEmpty else {
            throw error(node.position, path, "expected a non-empty string")
        }
        return scalar.string
    }

    /// A string, or nil for null.
    func optionalString(_ node: Node, _ path: String) throws(ConfigurationError) -> String? {
        node.isNull ? nil : try string(node, path)
    }

    /// `true` or `false`, unquoted.
    func bool(_ node: Node, _ path: String) throws(ConfigurationError) -> Bool {
        if case .scalar(let scalar) = node, !node.isNull {
            if scalar.style == .plain {
                switch scalar.string {
                case "true", "True", "TRUE": return true
                case "false", "False", "FALSE": return false
                default: break
                }
                if ["yes", "no", "on", "off", "y", "n"].contains(scalar.string.lowercased()) {
                    throw error(node.position, path, "expected true or false, found \(node.found): ldapsync reads YAML 1.2, where yes/no/on/off are strings, not booleans; write true or false")
                }
            } else if ["true", "false"].contains(scalar.string.lowercased()) {
                throw error(node.position, path, "expected true or false, found \(node.found); remove the quotes")
            }
        }
        throw error(node.position, path, "expected true or false, found \(node.found)")
    }

    /// A decimal integer, unquoted.
    func integer(_ node: Node, _ path: String) throws(ConfigurationError) -> Int {
        if case .scalar(let scalar) = node, !node.isNull {
            let text = scalar.string
            let digits = text.hasPrefix("-") ? text.dropFirst() : Substring(text)
            if !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) {
                guard scalar.style == .plain else {
                    throw error(node.position, path, "expected an integer, found \(node.found); remove the quotes")
                }
                guard let value = Int(text) else {
                    throw error(node.position, path, "\(text) is too large")
                }
                return value
            }
        }
        throw error(node.position, path, "expected an integer, found \(node.found)")
    }

    /// A duration such as `30s`, `10m`, `1h`, `2h30m` or `500ms`; `0` when `allowZero`.
    func duration(_ node: Node, _ path: String, allowZero: Bool = false) throws(ConfigurationError) -> Duration {
        guard case .scalar(let scalar) = node, !node.isNull else {
            throw error(node.position, path, "expected a duration such as 30s, 10m, 1h or 2h30m, found \(node.found)")
        }
        let value: Duration
        switch ValueSyntax.duration(scalar.string) {
        case .success(let parsed): value = parsed
        case .failure(let problem): throw error(node.position, path, problem.message)
        }
        if value == .zero && !allowZero {
            throw error(node.position, path, "must be longer than zero")
        }
        return value
    }

    /// A count (`50`) or a percentage (`5%`, `0.5%`).
    func limit(_ node: Node, _ path: String) throws(ConfigurationError) -> Limit {
        guard case .scalar(let scalar) = node, !node.isNull else {
            throw error(node.position, path, "expected a count such as 50 or a percentage such as 5%, found \(node.found)")
        }
        switch ValueSyntax.limit(scalar.string) {
        case .success(let limit): return limit
        case .failure(let problem): throw error(node.position, path, problem.message)
        }
    }

    /// One of `Choice`'s raw values, spelled exactly.
    func choice<Choice: RawRepresentable & CaseIterable>(
        _ node: Node, _ path: String, _ type: Choice.Type = Choice.self
    ) throws(ConfigurationError) -> Choice where Choice.RawValue == String {
        Choice(rawValue: try choice(node, path, among: Choice.allCases.map(\.rawValue)))!
    }

    /// `node`'s text when it is one of `allowed`.
    func choice(_ node: Node, _ path: String, among allowed: [String]) throws(ConfigurationError) -> String {
        let list = allowed.joined(separator: ", ")
        guard case .scalar(let scalar) = node, !node.isNull else {
            throw error(node.position, path, "expected one of \(list), found \(node.found)")
        }
        if allowed.contains(scalar.string) { return scalar.string }
        var message = "unknown value \(scalar.string.debugDescription); expected one of \(list)"
        if let suggestion = Suggestion.closest(to: scalar.string, among: allowed) {
            message = "unknown value \(scalar.string.debugDescription); did you mean \(suggestion)? Expected one of \(list)"
        }
        throw error(node.position, path, message)
    }

    // MARK: Keys of a section

    /// The value at `key` read by `read`, or `defaultValue` when the key is absent.
    func value<Value>(
        _ section: Section, _ key: String, default defaultValue: Value,
        _ read: (Node, String) throws(ConfigurationError) -> Value
    ) throws(ConfigurationError) -> Value {
        guard let entry = section.entry(key) else { return defaultValue }
        return try read(entry.value, section.path(key))
    }

    /// The value at `key` read by `read`; an absent key is an error naming `what`.
    func required<Value>(
        _ section: Section, _ key: String, _ what: String,
        _ read: (Node, String) throws(ConfigurationError) -> Value
    ) throws(ConfigurationError) -> Value {
        guard let entry = section.entry(key) else { throw missing(section, key, what) }
        return try read(entry.value, section.path(key))
    }
}
