import DirectoryModel
import LDAPClient
import Logging
import SyncConfig
import SyncEngine

/// Connecting and binding to one configured directory, with the security rules of
/// SPEC §12 applied before any password leaves the process.
enum DirectorySession {
    /// Connects and binds with the read principal, or with `bind` (the write principal).
    static func connect(_ directory: DirectoryConfiguration, configurationFile: String, logger: Logger,
                        as principal: BindConfiguration? = nil) throws(RunError) -> LDAPConnection {
        let bind = principal ?? directory.bind
        let secure = directory.startTLS || directory.url.lowercased().hasPrefix("ldaps:") || LDAPURL.isLocal(directory.url)
        guard secure || directory.allowPlaintext else {
            throw .configuration("directory \(directory.name): a simple bind over plain ldap:// to \(directory.url) would send the password unencrypted; use ldaps://, set startTLS: true, or (on a trusted network only) allowPlaintext: true")
        }
        let password: Secret
        do {
            password = try bind.password.read(keyPath: "directories.\(directory.name).\(principal == nil ? "bind" : "writeBind")", configurationFile: configurationFile)
        } catch {
            throw .configuration(error.description)
        }
        var options = ConnectionOptions()
        options.operationTimeout = directory.timeout
        options.networkTimeout = min(directory.timeout, .seconds(30))
        options.startTLS = directory.startTLS
        options.caFile = directory.tls.caFile
        options.verifyCertificate = directory.tls.verify
        do {
            var connectionLogger = logger
            connectionLogger[metadataKey: "ldap.directory"] = "\(directory.name)"
            let connection = try LDAPConnection(url: directory.url, options: options, logger: connectionLogger)
            try connection.bind(dn: bind.dn, password: password)
            return connection
        } catch {
            throw .connection(directory: directory.name, url: directory.url, error)
        }
    }
}

/// How the configuration's attributes and groups become the engine's policy.
enum PolicyBuilder {
    static func policy(_ configuration: Configuration, schema: Schema?) throws(RunError) -> SyncPolicy {
        let attributes = configuration.attributes.map { mapping in
            MappedAttribute(
                ldap: mapping.ldap, column: mapping.app,
                kind: mapping.binary ? .binary : mapping.multiValued ? .multiText : .text,
                caseInsensitive: !mapping.binary && (schema?.attributeType(mapping.ldap)?.isCaseInsensitive ?? false),
                sensitive: mapping.sensitive,
                direction: direction(mapping.direction), conflict: conflict(mapping.conflict),
                transform: mapping.transform.map(transform))
        }
        let groups: GroupPolicy
        switch configuration.groups {
        case .none: groups = .none
        case .mirror: groups = .mirror
        case .rules(let rules):
            var mapped: [AppGroupRule] = []
            for rule in rules {
                do {
                    mapped.append(AppGroupRule(appGroup: rule.app, ldapGroup: try DNKey.make(rule.ldap)))
                } catch {
                    throw .configuration("group rule \(rule.app): \(error)")
                }
            }
            groups = .rules(mapped)
        }
        var policy = SyncPolicy(attributes: attributes, groups: groups,
                                autoDeactivate: configuration.users.autoDeactivate, adoptExisting: configuration.users.adoptExisting)
        policy.writeBackEnabled = configuration.writeBack.enabled
        return policy
    }

    private static func direction(_ direction: SyncConfig.SyncDirection) -> SyncEngine.SyncDirection {
        switch direction {
        case .fromLDAP: .fromLDAP
        case .toLDAP: .toLDAP
        case .both: .both
        }
    }

    private static func transform(_ transform: SyncConfig.ValueTransform) -> SyncEngine.ValueTransform {
        switch transform {
        case .json: .json
        case .lowercase: .lowercase
        case .trim: .trim
        case .join(let separator): .join(separator)
        }
    }

    private static func conflict(_ policy: SyncConfig.ConflictPolicy) -> SyncEngine.ConflictPolicy {
        switch policy {
        case .ldapWins: .ldapWins
        case .appWins: .appWins
        case .newest: .newest
        case .manual: .manual
        }
    }

    /// What the snapshot covers of the mapping; an item it has never seen forces one full
    /// run (SPEC §4).
    static func mappingItems(_ configuration: Configuration, directory: DirectoryConfiguration) -> Set<String> {
        var items: Set<String> = [
            "users:\(directory.users.base.lowercased())|\(directory.users.scope.rawValue)|\(directory.users.filter)",
            "id:\(directory.users.id.folded)", "key:\(directory.users.key.folded)",
        ]
        for attribute in configuration.attributes { items.insert("attribute:\(attribute.ldap.folded)") }
        if let groups = directory.groups {
            items.insert("groups:\(groups.base.lowercased())|\(groups.scope.rawValue)|\(groups.filter)|\(groups.members.rawValue)")
        }
        switch configuration.groups {
        case .none: break
        case .mirror: items.insert("groups:mirror")
        case .rules(let rules): for rule in rules { items.insert("rule:\(rule.app)=\(((try? DNKey.make(rule.ldap)) ?? rule.ldap))") }
        }
        return items
    }

    /// Describes new mapping items for the "full run because" message.
    static func describe(_ items: Set<String>) -> String {
        items.sorted().map { item in
            if item.hasPrefix("attribute:") { return "attribute \(item.dropFirst("attribute:".count))" }
            if item.hasPrefix("rule:") { return "group rule \(item.dropFirst("rule:".count))" }
            if item == "groups:mirror" { return "groups: mirror" }
            return item.split(separator: ":", maxSplits: 1).first.map { "\($0) scope" } ?? item
        }.joined(separator: ", ")
    }
}
