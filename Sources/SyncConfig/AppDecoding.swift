import DirectoryModel
import Yams

extension ConfigurationDecoder {
    static let sqliteKeys = ["kind", "path", "users", "memberships", "findEdits"]
    static let postgresKeys = ["kind", "url", "passwordFile", "passwordEnv", "sslMode", "caFile", "users", "memberships", "findEdits"]
    static let attributeKeys = ["ldap", "app", "direction", "conflict", "multiValued", "binary", "transform", "sensitive"]

    // MARK: app

    func app(_ top: Section) throws(ConfigurationError) -> AppConfiguration {
        var app = AppConfiguration()
        guard let section = try reader.optionalSection(top, "app") else {
            app.kind = .sqlite(path: ValueSyntax.resolve("app.db", against: baseDirectory))
            return app
        }
        try refuseInlinePassword(section)
        let kind = try reader.value(section, "kind", default: "sqlite") { (node, path) throws(ConfigurationError) in
            try reader.choice(node, path, among: ["sqlite", "postgres"])
        }
        // Keys of the other kind get a message that says so, rather than "unknown key".
        let allowed = kind == "sqlite" ? Self.sqliteKeys : Self.postgresKeys
        for entry in section.entries where !allowed.contains(entry.key) {
            switch (kind, entry.key) {
            case ("sqlite", "url"), ("sqlite", "passwordFile"), ("sqlite", "passwordEnv"), ("sqlite", "sslMode"),
                 ("sqlite", "caFile"):
                throw reader.error(entry.keyPosition, section.path(entry.key),
                    "\(entry.key) is for kind: postgres; kind: sqlite takes path (the database file)")
            case ("postgres", "path"):
                throw reader.error(entry.keyPosition, section.path(entry.key),
                    "path is for kind: sqlite; kind: postgres takes url: postgres://HOST/DATABASE")
            default:
                try reader.checkKeys(section, allowed: allowed)
            }
        }

        if kind == "sqlite" {
            app.kind = .sqlite(path: try path(section, "path", default: "app.db"))
        } else {
            let url = try reader.required(section, "url", "postgres://USER@HOST:PORT/DATABASE", postgresURL)
            app.kind = .postgres(url: url, password: try passwordSource(section, required: false),
                                 tls: try postgresTLS(section, url: url))
        }

        if let users = try reader.optionalSection(section, "users") {
            try reader.checkKeys(users, allowed: ["table", "key", "managed", "active", "updatedAt"])
            app.users.table = try reader.value(users, "table", default: app.users.table, identifier)
            app.users.key = try reader.value(users, "key", default: app.users.key, identifier)
            app.users.managed = try reader.value(users, "managed", default: app.users.managed, identifier)
            app.users.active = try reader.value(users, "active", default: app.users.active, identifier)
            app.users.updatedAt = try reader.value(users, "updatedAt", default: app.users.updatedAt) { (node, path) throws(ConfigurationError) in
                node.isNull ? nil : try identifier(node, path)
            }
            let columns = [("key", app.users.key), ("managed", app.users.managed), ("active", app.users.active),
                           ("updatedAt", app.users.updatedAt)]
            var seen: [String: String] = [:]
            for case (let key, let column?) in columns {
                if let other = seen[column.lowercased()] {
                    throw reader.error(users.entry(key)?.value.position ?? users.position, users.path(key),
                        "column \(column) is already app.users.\(other); each role needs its own column")
                }
                seen[column.lowercased()] = key
            }
        }
        if let memberships = try reader.optionalSection(section, "memberships") {
            try reader.checkKeys(memberships, allowed: ["table", "user", "group"])
            app.memberships.table = try reader.value(memberships, "table", default: app.memberships.table, identifier)
            app.memberships.user = try reader.value(memberships, "user", default: app.memberships.user, identifier)
            app.memberships.group = try reader.value(memberships, "group", default: app.memberships.group, identifier)
            if app.memberships.user.lowercased() == app.memberships.group.lowercased() {
                throw reader.error(memberships.entry("group")?.value.position ?? memberships.position, memberships.path("group"),
                    "the group column must differ from the user column (\(app.memberships.user))")
            }
        }
        app.findEdits = try reader.value(section, "findEdits", default: .scan) { (node, path) throws(ConfigurationError) in
            try reader.choice(node, path, EditDetection.self)
        }
        if app.findEdits == .updatedAt && app.users.updatedAt == nil {
            throw reader.error(section.entry("findEdits")?.value.position ?? section.position, section.path("findEdits"),
                "findEdits: updated-at finds the app's edits by the app.users.updatedAt column, but it is null; set it, or use findEdits: scan")
        }
        if app.memberships.table.lowercased() == app.users.table.lowercased() {
            let position = section.entry("memberships")?.keyPosition ?? section.position
            throw reader.error(position, section.path("memberships.table"),
                "the memberships table must differ from the users table (\(app.users.table))")
        }
        return app
    }

    /// `sslMode` and `caFile`: a CA file is only used to verify, so it needs
    /// `verify-ca` or `verify-full`; TLS is set in one place, not in the URL as well.
    func postgresTLS(_ section: Section, url: String) throws(ConfigurationError) -> PostgresTLS {
        var tls = PostgresTLS()
        tls.mode = try reader.value(section, "sslMode", default: nil) { (node, path) throws(ConfigurationError) in
            try reader.choice(node, path, PostgresTLS.Mode.self)
        }
        if let entry = section.entry("caFile") {
            tls.caFile = try resolvedPath(entry.value, section.path("caFile"))
            guard tls.mode == .verifyCA || tls.mode == .verifyFull else {
                throw reader.error(entry.keyPosition, section.path("caFile"),
                    "caFile verifies the server's certificate, which only sslMode: verify-ca or verify-full do; set one of them")
            }
        }
        let query = url.firstIndex(of: "?").map { url[$0...].lowercased() } ?? ""
        for (key, parameter) in [("sslMode", "sslmode="), ("caFile", "sslrootcert=")] {
            if let entry = section.entry(key), query.contains(parameter) {
                throw reader.error(entry.keyPosition, section.path(key),
                    "the URL sets \(parameter.dropLast()) too; set TLS in one place (remove it from the URL)")
            }
        }
        return tls
    }

    /// A PostgreSQL URL, which must not hold a password (SPEC §12). The URL is never
    /// printed in a message, since it might.
    func postgresURL(_ node: Node, _ path: String) throws(ConfigurationError) -> String {
        let url = try reader.string(node, path)
        let lowered = url.lowercased()
        guard lowered.hasPrefix("postgres://") || lowered.hasPrefix("postgresql://") else {
            throw reader.error(node.position, path, "expected a URL starting with postgres:// or postgresql://")
        }
        let afterScheme = url[url.index(url.firstIndex(of: ":")!, offsetBy: 3)...]
        let authority = afterScheme.prefix { $0 != "/" && $0 != "?" }
        let hasPasswordInUserInfo = authority.contains("@") && authority.prefix { $0 != "@" }.contains(":")
        let query = url.firstIndex(of: "?").map { url[$0...].lowercased() } ?? ""
        if hasPasswordInUserInfo || query.contains("password=") {
            throw reader.error(node.position, path,
                "the URL holds a password; remove it and use passwordFile: PATH (chmod 600) or passwordEnv: NAME")
        }
        return url
    }

    // MARK: attributes

    func attributes(_ top: Section, app: AppConfiguration) throws(ConfigurationError) -> [AttributeMapping] {
        guard let entry = top.entry("attributes") else { return [] }
        let items = try reader.list(entry.value, path: "attributes")
        // The app columns ldapsync itself uses, which a mapped attribute must not reuse.
        var reserved: [String: String] = [:]
        reserved[app.users.key.lowercased()] = "app.users.key"
        reserved[app.users.managed.lowercased()] = "app.users.managed"
        reserved[app.users.active.lowercased()] = "app.users.active"
        if let updatedAt = app.users.updatedAt { reserved[updatedAt.lowercased()] = "app.users.updatedAt" }

        var mappings: [AttributeMapping] = []
        var ldapNames: [AttributeName: Int] = [:]
        var appColumns: [String: Int] = [:]
        for (index, item) in items.enumerated() {
            let path = "attributes[\(index)]"
            let section = try reader.section(item, path: path, position: item.position)
            try reader.checkKeys(section, allowed: Self.attributeKeys)
            let ldap = try reader.required(section, "ldap", "the LDAP attribute name", attributeName)
            let column = try reader.required(section, "app", "the app column name", identifier)
            var mapping = AttributeMapping(ldap: ldap, app: column)

            if let earlier = ldapNames[ldap] {
                throw reader.error(section.entry("ldap")?.value.position, section.path("ldap"),
                    "the LDAP attribute \(ldap) is already mapped by attributes[\(earlier)]; map each attribute once")
            }
            if let earlier = appColumns[column.lowercased()] {
                throw reader.error(section.entry("app")?.value.position, section.path("app"),
                    "the app column \(column) is already mapped by attributes[\(earlier)]; map each column once")
            }
            if let role = reserved[column.lowercased()] {
                throw reader.error(section.entry("app")?.value.position, section.path("app"),
                    "the app column \(column) is \(role), which ldapsync manages itself; map the attribute to another column")
            }
            ldapNames[ldap] = index
            appColumns[column.lowercased()] = index

            mapping.direction = try reader.value(section, "direction", default: mapping.direction) { (node, path) throws(ConfigurationError) in
                try reader.choice(node, path, SyncDirection.self)
            }
            mapping.conflict = try reader.value(section, "conflict", default: mapping.conflict) { (node, path) throws(ConfigurationError) in
                let policy = try reader.choice(node, path, ConflictPolicy.self)
                if policy == .newest && app.users.updatedAt == nil {
                    throw reader.error(node.position, path,
                        "conflict: newest compares the LDAP entry's timestamp with the app row's updatedAt column, but app.users.updatedAt is null; set it, or use ldap-wins, app-wins or manual")
                }
                return policy
            }
            mapping.multiValued = try reader.value(section, "multiValued", default: false, reader.bool)
            mapping.binary = try reader.value(section, "binary", default: false, reader.bool)
            mapping.sensitive = try reader.value(section, "sensitive", default: false, reader.bool)
            if let transformEntry = section.entry("transform") {
                let transformPath = section.path("transform")
                let transform = try self.transform(transformEntry.value, transformPath)
                let position = transformEntry.value.position
                if let transform {
                    if mapping.binary {
                        throw reader.error(position, transformPath,
                            "\(transform.name) works on text, but binary: true values are copied byte for byte; remove one of them")
                    }
                    if case .json = transform, !mapping.multiValued {
                        throw reader.error(position, transformPath,
                            "transform: json maps an app JSON array to one LDAP value per element, so it needs multiValued: true")
                    }
                    if case .join = transform, mapping.multiValued {
                        throw reader.error(position, transformPath,
                            "transform: join makes one app text of all LDAP values, so the app side is not multi-valued; remove multiValued: true")
                    }
                }
                mapping.transform = transform
            }
            mappings.append(mapping)
        }
        return mappings
    }

    /// `json`, `lowercase`, `trim` or `{join: SEPARATOR}`; null is no transform.
    func transform(_ node: Node, _ path: String) throws(ConfigurationError) -> ValueTransform? {
        let expected = "json, lowercase, trim or {join: \",\"}"
        switch node {
        case _ where node.isNull:
            return nil
        case .mapping:
            let section = try reader.section(node, path: path, position: node.position)
            try reader.checkKeys(section, allowed: ["join"])
            guard let entry = section.entry("join") else {
                throw reader.error(node.position, path, "expected \(expected), found an empty mapping")
            }
            guard case .scalar(let scalar) = entry.value, !entry.value.isNull, !scalar.string.isEmpty else {
                throw reader.error(entry.value.position, section.path("join"), "expected the separator as a string, such as {join: \",\"}")
            }
            return .join(scalar.string)
        case .scalar(let scalar) where scalar.string == "join":
            throw reader.error(node.position, path, "join needs a separator: write transform: {join: \",\"}")
        default:
            switch try reader.choice(node, path, among: ["json", "lowercase", "trim"]) {
            case "json": return .json
            case "lowercase": return .lowercase
            default: return .trim
            }
        }
    }

    // MARK: groups

    func groups(_ top: Section, directories: [DirectoryConfiguration]) throws(ConfigurationError) -> GroupMapping {
        guard let entry = top.entry("groups"), !entry.value.isNull else { return .none }
        let mapping: GroupMapping
        switch entry.value {
        case .scalar(let scalar):
            guard scalar.string == "mirror" else {
                throw reader.error(entry.value.position, "groups",
                    "expected mirror or a list of rules such as - { app: Staff, ldap: \"cn=staff,ou=groups,dc=example,dc=com\" }, found \(entry.value.found)")
            }
            mapping = .mirror
        default:
            let items = try reader.list(entry.value, path: "groups")
            guard !items.isEmpty else {
                throw reader.error(entry.value.position, "groups",
                    "an empty list of rules would sync no user; remove groups: to sync every user without memberships, or add rules")
            }
            var rules: [(rule: GroupRule, dn: DistinguishedName)] = []
            for (index, item) in items.enumerated() {
                let path = "groups[\(index)]"
                let section = try reader.section(item, path: path, position: item.position)
                try reader.checkKeys(section, allowed: ["app", "ldap"])
                let app = try reader.required(section, "app", "the app group name", reader.string)
                let ldap = try reader.required(section, "ldap", "the LDAP group DN", distinguishedName)
                let dn = try! DistinguishedName(parsing: ldap)
                if let earlier = rules.firstIndex(where: { $0.rule.app == app && $0.dn.matches(dn) }) {
                    throw reader.error(item.position, path, "the same rule as groups[\(earlier)]; remove one")
                }
                rules.append((GroupRule(app: app, ldap: ldap), dn))
            }
            mapping = .rules(rules.map(\.rule))
        }
        guard directories.contains(where: { $0.groups != nil }) else {
            throw reader.error(entry.keyPosition, "groups",
                "group mapping needs group scopes, but no directory has a groups: section (base, filter, members); add one or remove groups:")
        }
        return mapping
    }
}

extension ValueTransform {
    /// The transform as written in the configuration, for messages.
    var name: String {
        switch self {
        case .json: "transform: json"
        case .lowercase: "transform: lowercase"
        case .trim: "transform: trim"
        case .join: "transform: join"
        }
    }
}
