import DirectoryModel
import LDAPClient
import Logging
import SyncConfig
import SyncEngine

/// Connecting and binding to one configured directory, with the security rules of
/// SPEC §12 applied before any password leaves the process. `ldapsync doctor` applies
/// the same rules through ``plaintextRefusal(_:)`` and ``password(_:role:directory:configurationFile:)``.
enum DirectorySession {
    /// Connects and binds with the read principal, or with `bind` (the write principal).
    static func connect(_ directory: DirectoryConfiguration, configurationFile: String, logger: Logger,
                        as principal: BindConfiguration? = nil) throws(RunError) -> LDAPConnection {
        let bind = principal ?? directory.bind
        if let refusal = plaintextRefusal(directory) {
            throw .configuration("directory \(directory.name): \(refusal)")
        }
        let password: Secret
        do {
            password = try self.password(bind, role: principal == nil ? "bind" : "writeBind", directory: directory,
                                         configurationFile: configurationFile)
        } catch {
            throw .configuration(error.description)
        }
        do {
            let connection = try open(directory, logger: logger)
            try connection.bind(dn: bind.dn, password: password)
            return connection
        } catch {
            throw .connection(directory: directory.name, url: directory.url, explained(error, directory))
        }
    }

    /// libldap says only "Can't contact LDAP server" whether the name does not resolve,
    /// the port is closed or the certificate is not trusted. On that error the doctor's
    /// reach checks run once and their finding ("TLS: certificate expired on …",
    /// "TCP: connection refused by …") replaces the placeholder, so the run's own error
    /// names the cause.
    static func explained(_ error: LDAPError, _ directory: DirectoryConfiguration) -> LDAPError {
        guard error.code == .serverDown || error.code == .connectError,
              let finding = ReachChecks.run(directory).checks.first(where: { $0.status == .fail }) else { return error }
        var explained = error
        explained.diagnostic = finding.summary
        return explained
    }

    /// Why a simple bind to `directory` must not be made, or nil when it may: over plain
    /// `ldap://` to a non-loopback host the password would travel unencrypted, unless
    /// `startTLS` or `allowPlaintext` says otherwise (SPEC §12).
    static func plaintextRefusal(_ directory: DirectoryConfiguration) -> String? {
        let secure = directory.startTLS || directory.url.lowercased().hasPrefix("ldaps:") || LDAPURL.isLocal(directory.url)
        guard !secure, !directory.allowPlaintext else { return nil }
        return "a simple bind over plain ldap:// to \(directory.url) would send the password unencrypted; use ldaps://, set startTLS: true, or (on a trusted network only) allowPlaintext: true"
    }

    /// Reads the password of a principal; `role` is `bind` or `writeBind`, for the key path
    /// in errors. The error names the file or variable, never the password.
    static func password(_ principal: BindConfiguration, role: String, directory: DirectoryConfiguration,
                         configurationFile: String) throws(ConfigurationError) -> Secret {
        try principal.password.read(keyPath: "directories.\(directory.name).\(role)", configurationFile: configurationFile)
    }

    /// A connection to the directory's URL with its timeouts and TLS settings (StartTLS
    /// is done here when configured); not bound yet.
    static func open(_ directory: DirectoryConfiguration, logger: Logger) throws(LDAPError) -> LDAPConnection {
        var options = ConnectionOptions()
        options.operationTimeout = directory.timeout
        options.networkTimeout = min(directory.timeout, .seconds(30))
        options.startTLS = directory.startTLS
        options.caFile = directory.tls.caFile
        options.verifyCertificate = directory.tls.verify
        var connectionLogger = logger
        connectionLogger[metadataKey: "ldap.directory"] = "\(directory.name)"
        return try LDAPConnection(url: directory.url, options: options, logger: connectionLogger)
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
