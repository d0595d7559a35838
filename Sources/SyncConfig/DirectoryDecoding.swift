import DirectoryModel
import Yams

extension ConfigurationDecoder {
    static let directoryKeys = [
        "name", "type", "url", "startTLS", "tls", "allowPlaintext", "bind", "writeBind", "timeout",
        "users", "groups", "timestamp", "pageSize", "deletions", "rangeSize",
    ]
    static let bindKeys = ["dn", "passwordFile", "passwordEnv"]
    static let userScopeKeys = ["base", "scope", "filter", "id", "key", "accountState"]
    static let groupScopeKeys = ["base", "scope", "filter", "members"]

    func directories(_ entry: Section.Entry) throws(ConfigurationError) -> [DirectoryConfiguration] {
        let items = try reader.list(entry.value, path: "directories")
        guard !items.isEmpty else {
            throw reader.error(entry.keyPosition, "directories", "no directories: list at least one, with name, url, bind and users")
        }
        var directories: [DirectoryConfiguration] = []
        var names: [String: Int] = [:]
        for (index, item) in items.enumerated() {
            let path = "directories[\(index)]"
            let (directory, namePosition) = try self.directory(item, path: path)
            // Names key the state store and `--directory`: two spellings that differ
            // only in case would be too easy to confuse.
            if let earlier = names[directory.name.lowercased()] {
                throw reader.error(namePosition, "\(path).name",
                    "duplicate directory name \(directory.name.debugDescription): directories[\(earlier)] has it already; each directory needs its own name")
            }
            names[directory.name.lowercased()] = index
            directories.append(directory)
        }
        return directories
    }

    /// One directory and where its name is written.
    func directory(_ node: Node, path: String) throws(ConfigurationError) -> (DirectoryConfiguration, Position?) {
        let section = try reader.section(node, path: path, position: node.position)
        try reader.checkKeys(section, allowed: Self.directoryKeys)

        guard let nameEntry = section.entry("name") else {
            throw reader.missing(section, "name", "a name for the directory (letters, digits, -, _ and .)")
        }
        let name = try reader.string(nameEntry.value, section.path("name"))
        guard ValueSyntax.isDirectoryName(name) else {
            throw reader.error(nameEntry.value.position, section.path("name"),
                "\(name.debugDescription) is not a valid directory name: use letters, digits, -, _ and . (it names the directory's state)")
        }
        let type = try reader.value(section, "type", default: DirectoryType.openldap) { (node, path) throws(ConfigurationError) in
            try reader.choice(node, path, DirectoryType.self)
        }
        let defaults = DirectoryDefaults(type)

        let url = try reader.required(section, "url", "an ldap://, ldaps:// or ldapi:// URL", ldapURL)
        let scheme = url.prefix { $0 != ":" }.lowercased()
        let startTLS = try reader.value(section, "startTLS", default: false, reader.bool)
        if startTLS && scheme != "ldap" {
            throw reader.error(section.entry("startTLS")?.value.position, section.path("startTLS"),
                "startTLS: true needs an ldap:// URL; \(scheme):// is \(scheme == "ldaps" ? "already encrypted" : "a local socket")")
        }

        var tls = TLSConfiguration()
        if let tlsSection = try reader.optionalSection(section, "tls") {
            try reader.checkKeys(tlsSection, allowed: ["caFile", "verify"])
            tls.caFile = try reader.value(tlsSection, "caFile", default: nil) { (node, path) throws(ConfigurationError) in
                node.isNull ? nil : try resolvedPath(node, path)
            }
            tls.verify = try reader.value(tlsSection, "verify", default: true, reader.bool)
        }
        let allowPlaintext = try reader.value(section, "allowPlaintext", default: false, reader.bool)

        let bindSection = try reader.requiredSection(section, "bind", "{dn, passwordFile} or {dn, passwordEnv}")
        let bind = try self.bind(bindSection)
        let writeBind = try reader.optionalSection(section, "writeBind").map { (section) throws(ConfigurationError) in
            try self.bind(section)
        }
        let timeout = try reader.value(section, "timeout", default: .seconds(30)) { (node, path) throws(ConfigurationError) in
            try reader.duration(node, path)
        }

        let usersSection = try reader.requiredSection(section, "users", "a mapping with at least base: (the DN to search for users)")
        let users = try userScope(usersSection, defaults: defaults, type: type)
        let groups = try reader.optionalSection(section, "groups").map { (section) throws(ConfigurationError) in
            try groupScope(section, defaults: defaults)
        }
        let timestamp = try self.timestamp(try reader.optionalSection(section, "timestamp"), path: section.path("timestamp"), defaults: defaults)

        let pageSize = try reader.value(section, "pageSize", default: defaults.pageSize) { (node, path) throws(ConfigurationError) in
            let size = try reader.integer(node, path)
            guard (1...2_147_483_647).contains(size) else {
                throw reader.error(node.position, path, "must be from 1 to 2147483647, found \(size)")
            }
            return size
        }
        let deletions = try reader.value(section, "deletions", default: DeletionMode.everyRun) { (node, path) throws(ConfigurationError) in
            let mode = try reader.choice(node, path, DeletionMode.self)
            if mode == .tombstones && type != .ad {
                throw reader.error(node.position, path, "tombstones reads Active Directory's deleted objects; it needs type: ad (use every-run, full-only or off)")
            }
            return mode
        }

        let rangeSize = try reader.value(section, "rangeSize", default: nil) { (node, path) throws(ConfigurationError) -> Int? in
            if node.isNull { return nil }
            let size = try reader.integer(node, path)
            guard (1...2_147_483_647).contains(size) else {
                throw reader.error(node.position, path, "must be from 1 to 2147483647 (values per range request), found \(size)")
            }
            guard type == .ad else {
                throw reader.error(node.position, path, "range retrieval (member;range=0-N) is an Active Directory extension; rangeSize needs type: ad")
            }
            return size
        }

        var directory = DirectoryConfiguration(
            name: name, type: type, url: url, startTLS: startTLS, tls: tls, allowPlaintext: allowPlaintext,
            bind: bind, writeBind: writeBind, timeout: timeout, users: users, groups: groups,
            timestamp: timestamp, pageSize: pageSize, deletions: deletions)
        directory.rangeSize = rangeSize
        return (directory, nameEntry.value.position)
    }

    /// One LDAP URL with the scheme ldap, ldaps or ldapi.
    func ldapURL(_ node: Node, _ path: String) throws(ConfigurationError) -> String {
        let url = try reader.string(node, path)
        let lowered = url.lowercased()
        guard ["ldap://", "ldaps://", "ldapi://"].contains(where: { lowered.hasPrefix($0) }) else {
            throw reader.error(node.position, path, "expected a URL starting with ldap://, ldaps:// or ldapi://, found \(url.debugDescription)")
        }
        guard !url.contains(where: \.isWhitespace) else {
            throw reader.error(node.position, path, "expected one URL without spaces, found \(url.debugDescription)")
        }
        return url
    }

    func bind(_ section: Section) throws(ConfigurationError) -> BindConfiguration {
        try refuseInlinePassword(section)
        try reader.checkKeys(section, allowed: Self.bindKeys)
        // Not parsed as a DN: Active Directory also binds with user@domain.
        let dn = try reader.required(section, "dn", "the DN (or, for Active Directory, user@domain) to bind as", reader.string)
        let password = try passwordSource(section, required: true)!
        return BindConfiguration(dn: dn, password: password)
    }

    func userScope(_ section: Section, defaults: DirectoryDefaults, type: DirectoryType) throws(ConfigurationError) -> UserScope {
        try reader.checkKeys(section, allowed: Self.userScopeKeys)
        let accountState = try reader.value(section, "accountState", default: AccountStateMode.off) { (node, path) throws(ConfigurationError) in
            let mode = try reader.choice(node, path, AccountStateMode.self)
            if mode != .off && type != .ad {
                throw reader.error(node.position, path, "accountState reads Active Directory's userAccountControl (a disabled account is active = 0 in the app); it needs type: ad (or accountState: off)")
            }
            return mode
        }
        return UserScope(
            base: try reader.required(section, "base", "the DN under which users are searched", distinguishedName),
            scope: try reader.value(section, "scope", default: .sub) { (node, path) throws(ConfigurationError) in
                try reader.choice(node, path, ScopeSetting.self)
            },
            filter: try reader.value(section, "filter", default: defaults.usersFilter, filter),
            id: try reader.value(section, "id", default: defaults.id, attributeName),
            key: try reader.value(section, "key", default: defaults.key, attributeName),
            accountState: accountState)
    }

    func groupScope(_ section: Section, defaults: DirectoryDefaults) throws(ConfigurationError) -> GroupScope {
        try reader.checkKeys(section, allowed: Self.groupScopeKeys)
        return GroupScope(
            base: try reader.required(section, "base", "the DN under which groups are searched", distinguishedName),
            scope: try reader.value(section, "scope", default: .sub) { (node, path) throws(ConfigurationError) in
                try reader.choice(node, path, ScopeSetting.self)
            },
            filter: try reader.value(section, "filter", default: defaults.groupsFilter, filter),
            members: try reader.value(section, "members", default: defaults.members) { (node, path) throws(ConfigurationError) in
                try reader.choice(node, path, MembershipAttribute.self)
            })
    }

    func timestamp(_ section: Section?, path: String, defaults: DirectoryDefaults) throws(ConfigurationError) -> TimestampConfiguration {
        var timestamp = TimestampConfiguration(attribute: defaults.timestampAttribute, pattern: defaults.pattern, overlap: .seconds(600))
        guard let section else { return timestamp }
        try reader.checkKeys(section, allowed: ["attribute", "pattern", "overlap"])
        timestamp.attribute = try reader.value(section, "attribute", default: timestamp.attribute, attributeName)
        timestamp.pattern = try reader.value(section, "pattern", default: timestamp.pattern) { (node, path) throws(ConfigurationError) in
            let text = try reader.string(node, path)
            if let problem = ValueSyntax.checkDatePattern(text, presets: true) {
                throw reader.error(node.position, path, problem.message)
            }
            return text
        }
        timestamp.overlap = try reader.value(section, "overlap", default: timestamp.overlap) { (node, path) throws(ConfigurationError) in
            try reader.duration(node, path, allowZero: true)
        }
        return timestamp
    }
}
