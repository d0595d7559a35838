import DirectoryModel
import Yams

/// Finds, reads, decodes and validates the configuration file (SPEC §3).
///
/// This is the one place the configuration is decoded: it walks the YAML node tree
/// (not `Codable`) so that every error names the file, line, column and key path, every
/// unknown key is an error, and every default lives next to the key it belongs to.
/// See docs/configuration.md for the administrator's view.
public enum ConfigurationLoader {
    /// The file used when `--config` is not given, in order of preference.
    public static let searchPath = ["./ldapsync.yaml", "/etc/ldapsync/ldapsync.yaml"]

    /// The configuration file to load: `explicit` (`--config PATH`) when given; else the
    /// first of ``searchPath`` that exists; else `./ldapsync.yaml`, so that the error
    /// about the missing file names the first place looked.
    public static func locate(explicit: String?) -> String {
        locate(explicit: explicit, candidates: searchPath, exists: FileAccess.exists)
    }

    static func locate(explicit: String?, candidates: [String], exists: (String) -> Bool) -> String {
        if let explicit { return explicit }
        return candidates.first(where: exists) ?? candidates[0]
    }

    /// Reads and loads the file at `path`; a missing or unreadable file is an error
    /// naming it.
    public static func load(path: String) throws(ConfigurationError) -> Configuration {
        let bytes: [UInt8]
        switch FileAccess.read(path, check: { $0.isRegular ? nil : "not a regular file" }) {
        case .success(let contents): bytes = contents
        case .failure(.refused(let message)), .failure(.system(let message)):
            throw ConfigurationError(file: path, line: nil, keyPath: "", message: "cannot read the configuration file: \(message)")
        }
        guard let yaml = String(validating: bytes, as: UTF8.self) else {
            throw ConfigurationError(file: path, line: nil, keyPath: "", message: "the configuration file is not UTF-8 text")
        }
        return try load(yaml: yaml, sourcePath: path)
    }

    /// Decodes and validates `yaml`, the contents of the file at `sourcePath`. Relative
    /// paths in it are resolved against `sourcePath`'s directory.
    public static func load(yaml: String, sourcePath: String) throws(ConfigurationError) -> Configuration {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw syntaxError(error, file: sourcePath)
        }
        let decoder = ConfigurationDecoder(
            reader: NodeReader(file: sourcePath),
            baseDirectory: ValueSyntax.directory(of: sourcePath, currentDirectory: FileAccess.currentDirectory()))
        return try decoder.configuration(root, sourcePath: sourcePath)
    }

    /// Whether the character at `mark` (line and column from 1, in Unicode scalars) is a tab.
    static func isTab(in yaml: String, at mark: Mark) -> Bool {
        let lines = yaml.split(separator: "\n", omittingEmptySubsequences: false)
        guard mark.line >= 1, mark.line <= lines.count else { return false }
        let scalars = Array(lines[mark.line - 1].unicodeScalars)
        return mark.column >= 1 && mark.column <= scalars.count && scalars[mark.column - 1] == "\t"
    }

    /// A YAML syntax error as a configuration error at its line.
    static func syntaxError(_ error: any Error, file: String) -> ConfigurationError {
        func located(_ mark: Mark?, _ message: String) -> ConfigurationError {
            ConfigurationError(file: file, line: mark?.line, column: mark?.column, keyPath: "", message: message)
        }
        func problem(_ context: YamlError.Context?, _ problem: String) -> String {
            guard let context else { return "YAML syntax error: \(problem)" }
            return "YAML syntax error: \(problem) (\(context.text) at line \(context.mark.line), column \(context.mark.column))"
        }
        guard let yamlError = error as? YamlError else {
            return located(nil, "cannot read the YAML: \(error)")
        }
        switch yamlError {
        case .scanner(let context, let text, let mark, let yaml):
            var message = problem(context, text)
            if isTab(in: yaml, at: mark) { message += "; indent with spaces, YAML does not allow tabs" }
            return located(mark, message)
        case .parser(let context, let text, let mark, _), .composer(let context, let text, let mark, _):
            return located(mark, problem(context, text))
        case .reader(let text, let offset, _, let yaml):
            var line: Int?
            if let offset {
                let prefix = yaml.utf8.prefix(offset)
                line = prefix.reduce(1) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
            }
            return ConfigurationError(file: file, line: line, keyPath: "", message: "cannot read the YAML: \(text)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            // Yams sorts the duplicated keys with an order that cannot compare a scalar key
            // with a mapping or sequence key (which it names "<uncovertable>"), so with keys
            // of both kinds its list and its mark follow hash order and change from run to
            // run (found by FuzzConfig). Sort the names here, and give the mark only when
            // Yams's choice of key is certain: scalar keys only, or a single key.
            let nonScalar = "<uncovertable>"
            var keys = duplicates.filter { $0 != nonScalar }.sorted().map { "'\($0)'" }
            if duplicates.contains(nonScalar) { keys.append("a mapping or sequence used as a key") }
            let certain = duplicates.count == 1 || !duplicates.contains(nonScalar)
            // `context.text` is the whole document: never print it.
            return located(certain ? context.mark : nil,
                           "the key \(keys.joined(separator: ", ")) appears more than once in the same mapping; keep one")
        default:
            return located(nil, "cannot read the YAML: \(yamlError)")
        }
    }
}

/// The defaults that depend on `type:` (SPEC §3 comments). `generic` takes the RFC
/// attributes, like `openldap`.
struct DirectoryDefaults {
    var id: AttributeName
    var key: AttributeName
    var usersFilter: String
    var groupsFilter: String
    var members: MembershipAttribute
    var timestampAttribute: AttributeName
    var pattern: String
    var pageSize: Int

    init(_ type: DirectoryType) {
        switch type {
        case .openldap, .generic:
            id = "entryUUID"
            key = "uid"
            usersFilter = "(objectClass=inetOrgPerson)"
            groupsFilter = "(objectClass=groupOfNames)"
            members = .member
            timestampAttribute = "modifyTimestamp"
            pattern = "openldap"
            pageSize = 1000
        case .ad:
            id = "objectGUID"
            key = "sAMAccountName"
            usersFilter = "(&(objectCategory=person)(objectClass=user))"
            groupsFilter = "(objectClass=group)"
            members = .member
            timestampAttribute = "whenChanged"
            pattern = "ad"
            pageSize = 1000
        }
    }
}

/// Turns the node tree into a validated `Configuration`, one section at a time, in an
/// order that lets each check see what it depends on (directories before the group
/// rules that need a group scope; the app's columns before the attributes that must not
/// reuse them).
struct ConfigurationDecoder {
    let reader: NodeReader
    /// Absolute directory of the configuration file; relative paths are resolved
    /// against it so that cron (another working directory) behaves like an interactive run.
    let baseDirectory: String

    static let topLevelKeys = [
        "version", "state", "directories", "app", "attributes", "writeBack", "groups", "users", "safety", "cursor", "audit",
    ]

    func configuration(_ root: Node?, sourcePath: String) throws(ConfigurationError) -> Configuration {
        guard let root, !root.isNull else {
            throw reader.error(.start, "", "the file is empty; expected version: 1 and a list of directories")
        }
        let top = try reader.section(root, path: "", position: .start)
        // The version first: a file written for another version gets that message
        // rather than one about keys this version does not know.
        guard let versionEntry = top.entry("version") else {
            throw reader.error(.start, "version", "required key missing: add version: 1 at the top of the file")
        }
        let version = try reader.integer(versionEntry.value, "version")
        guard version == 1 else {
            throw reader.error(versionEntry.value.position, "version", "unsupported version \(version); this ldapsync reads version 1")
        }
        try reader.checkKeys(top, allowed: Self.topLevelKeys)

        var configuration = Configuration(sourcePath: sourcePath, version: version)
        configuration.statePath = try path(top, "state", default: configuration.statePath)

        guard let directoriesEntry = top.entry("directories") else {
            throw reader.missing(top, "directories", "a list of directories, each with name, url, bind and users")
        }
        configuration.directories = try directories(directoriesEntry)
        configuration.app = try app(top)
        configuration.attributes = try attributes(top, app: configuration.app)
        try checkAccountState(configuration, top)
        if let section = try reader.optionalSection(top, "writeBack") {
            try reader.checkKeys(section, allowed: ["enabled"])
            configuration.writeBack.enabled = try reader.value(section, "enabled", default: false, reader.bool)
        }
        configuration.groups = try groups(top, directories: configuration.directories)
        if let section = try reader.optionalSection(top, "users") {
            try reader.checkKeys(section, allowed: ["autoDeactivate", "adoptExisting"])
            configuration.users.autoDeactivate = try reader.value(section, "autoDeactivate", default: false, reader.bool)
            configuration.users.adoptExisting = try reader.value(section, "adoptExisting", default: false, reader.bool)
        }
        if let section = try reader.optionalSection(top, "safety") {
            try reader.checkKeys(section, allowed: ["maxDeactivations", "maxGroupRemovals"])
            configuration.safety.maxDeactivations = try reader.value(
                section, "maxDeactivations", default: configuration.safety.maxDeactivations, reader.limit)
            configuration.safety.maxGroupRemovals = try reader.value(
                section, "maxGroupRemovals", default: configuration.safety.maxGroupRemovals, reader.limit)
        }
        if let section = try reader.optionalSection(top, "cursor") {
            try reader.checkKeys(section, allowed: ["display"])
            configuration.cursor.display = try reader.value(section, "display", default: configuration.cursor.display) {
                (node, path) throws(ConfigurationError) in
                let text = try reader.string(node, path)
                if let problem = ValueSyntax.checkDatePattern(text, presets: false) {
                    throw reader.error(node.position, path, problem.message)
                }
                return text
            }
        }
        if let section = try reader.optionalSection(top, "audit") {
            try reader.checkKeys(section, allowed: ["path"])
            configuration.audit.path = try path(section, "path", default: configuration.audit.path)
        }
        return configuration
    }

    // MARK: Shared value kinds

    /// A file or directory path at `key`, made absolute against the configuration
    /// file's directory.
    func path(_ section: Section, _ key: String, default defaultValue: String) throws(ConfigurationError) -> String {
        try reader.value(section, key, default: defaultValue) { (node, path) throws(ConfigurationError) in
            try resolvedPath(node, path)
        }
    }

    func resolvedPath(_ node: Node, _ path: String) throws(ConfigurationError) -> String {
        ValueSyntax.resolve(try reader.string(node, path), against: baseDirectory)
    }

    /// A table or column name.
    func identifier(_ node: Node, _ path: String) throws(ConfigurationError) -> String {
        let text = try reader.string(node, path)
        if let problem = ValueSyntax.checkIdentifier(text) {
            throw reader.error(node.position, path, problem.message)
        }
        return text
    }

    /// An LDAP attribute description.
    func attributeName(_ node: Node, _ path: String) throws(ConfigurationError) -> AttributeName {
        let text = try reader.string(node, path)
        guard ValueSyntax.isAttributeDescription(text) else {
            throw reader.error(node.position, path, "\(text.debugDescription) is not an attribute name; expected a name such as mail or an OID such as 0.9.2342.19200300.100.1.3")
        }
        return AttributeName(text)
    }

    /// A DN in RFC 4514 form.
    func distinguishedName(_ node: Node, _ path: String) throws(ConfigurationError) -> String {
        let text = try reader.string(node, path)
        do {
            _ = try DistinguishedName(parsing: text)
        } catch {
            throw reader.error(node.position, path, "\(error)")
        }
        return text
    }

    /// A search filter in RFC 4515 form.
    func filter(_ node: Node, _ path: String) throws(ConfigurationError) -> String {
        let text = try reader.string(node, path)
        do {
            _ = try Filter(parsing: text)
        } catch {
            throw reader.error(node.position, path, "\(error)")
        }
        return text
    }

    /// Refuses an inline `password:` key (SPEC §12) without ever printing its value.
    func refuseInlinePassword(_ section: Section) throws(ConfigurationError) {
        guard let entry = section.entry("password") else { return }
        throw reader.error(entry.keyPosition, section.path("password"),
            "an inline password is not accepted; put it in a file readable only by ldapsync (passwordFile: PATH, chmod 600) or in an environment variable (passwordEnv: NAME)")
    }

    /// `passwordFile` or `passwordEnv` of `section`: exactly one when `required`, at most
    /// one otherwise.
    func passwordSource(_ section: Section, required: Bool) throws(ConfigurationError) -> PasswordSource? {
        let fileEntry = section.entry("passwordFile")
        let environmentEntry = section.entry("passwordEnv")
        if fileEntry != nil, let environmentEntry {
            throw reader.error(environmentEntry.keyPosition, section.path("passwordEnv"),
                "give either passwordFile or passwordEnv, not both")
        }
        if let fileEntry {
            return .file(try resolvedPath(fileEntry.value, section.path("passwordFile")))
        }
        if let environmentEntry {
            let path = section.path("passwordEnv")
            let name = try reader.string(environmentEntry.value, path)
            guard ValueSyntax.isEnvironmentName(name) else {
                throw reader.error(environmentEntry.value.position, path,
                    "\(name.debugDescription) is not an environment variable name (letters, digits and _, not starting with a digit)")
            }
            return .environment(name)
        }
        guard !required else {
            throw reader.missing(section, "passwordFile", "passwordFile: PATH or passwordEnv: NAME")
        }
        return nil
    }
}
