import DirectoryModel
import Testing
@testable import SyncConfig

/// SPEC §3's documented defaults, written out here by hand: if the loader's defaults
/// drift from the documentation, these tests say so.
@Suite struct DefaultsTests {
    static let bind = BindConfiguration(
        dn: "cn=sync,ou=services,dc=example,dc=com", password: .file("/srv/ldapsync/corp.pw"))

    @Test func documentedDefaultsEqualTheDecodedMinimalFile() throws {
        let directory = DirectoryConfiguration(
            name: "corp", type: .openldap, url: "ldaps://dc1.example.com",
            startTLS: false, tls: TLSConfiguration(caFile: nil, verify: true), allowPlaintext: false,
            bind: Self.bind, writeBind: nil, timeout: .seconds(30),
            users: UserScope(base: "ou=people,dc=example,dc=com", scope: .sub,
                             filter: "(objectClass=inetOrgPerson)", id: "entryUUID", key: "uid"),
            groups: nil,
            timestamp: TimestampConfiguration(attribute: "modifyTimestamp", pattern: "openldap", overlap: .seconds(600)),
            pageSize: 1000, deletions: .everyRun)
        var app = AppConfiguration()
        app.kind = .sqlite(path: "/srv/ldapsync/app.db")  // app.db, next to the file
        app.users.table = "users"
        app.users.key = "key"
        app.users.managed = "ldap_managed"
        app.users.active = "active"
        app.users.updatedAt = "updated_at"
        app.memberships.table = "group_members"
        app.memberships.user = "user_key"
        app.memberships.group = "group_name"
        var safety = SafetyLimits()
        safety.maxDeactivations = .percent(5)
        safety.maxGroupRemovals = .percent(10)
        var cursor = CursorConfiguration()
        cursor.display = "dd-MM-yyyy HH:mm:ss"
        var audit = AuditConfiguration()
        audit.path = "/var/log/ldapsync/audit.jsonl"
        let expected = Configuration(
            sourcePath: testSourcePath, version: 1, statePath: "/var/lib/ldapsync",
            directories: [directory], app: app, attributes: [],
            writeBack: WriteBackConfiguration(enabled: false), groups: .none,
            users: UserPolicy(autoDeactivate: false, adoptExisting: false),
            safety: safety, cursor: cursor, audit: audit)

        #expect(try load(minimalYAML) == expected)
    }

    @Test func activeDirectoryTypeSetsItsOwnDefaults() throws {
        let yaml = minimalYAML.replacingOccurrences(of: "    url:", with: "    type: ad\n    url:")
            + "    groups: { base: \"ou=groups,dc=example,dc=com\" }\n"
        let directory = try load(yaml).directories[0]
        #expect(directory.type == .ad)
        #expect(directory.users == UserScope(
            base: "ou=people,dc=example,dc=com", scope: .sub,
            filter: "(&(objectCategory=person)(objectClass=user))", id: "objectGUID", key: "sAMAccountName"))
        #expect(directory.groups == GroupScope(base: "ou=groups,dc=example,dc=com", scope: .sub,
                                               filter: "(objectClass=group)", members: .member))
        #expect(directory.timestamp == TimestampConfiguration(attribute: "whenChanged", pattern: "ad", overlap: .seconds(600)))
        #expect(directory.pageSize == 1000)
        #expect(directory.deletions == .everyRun)
    }

    @Test func genericTypeTakesTheRFCDefaultsLikeOpenLDAP() throws {
        let generic = try load(minimalYAML.replacingOccurrences(of: "    url:", with: "    type: generic\n    url:"))
        let openldap = try load(minimalYAML)
        #expect(generic.directories[0].type == .generic)
        #expect(generic.directories[0].users == openldap.directories[0].users)
        #expect(generic.directories[0].timestamp == openldap.directories[0].timestamp)
    }

    @Test func openLDAPGroupSectionDefaults() throws {
        let directory = try load(minimalYAML + "    groups:\n      base: \"ou=groups,dc=example,dc=com\"\n").directories[0]
        #expect(directory.groups == GroupScope(base: "ou=groups,dc=example,dc=com", scope: .sub,
                                               filter: "(objectClass=groupOfNames)", members: .member))
    }

    @Test func explicitKeysOverrideTheTypeDefaults() throws {
        let yaml = """
            version: 1
            directories:
              - name: ad-east
                type: ad
                url: ldap://dc1.example.com
                startTLS: true
                tls: { caFile: /etc/ssl/corp-ca.pem, verify: false }
                allowPlaintext: true
                bind: { dn: "sync@example.com", passwordEnv: LDAPSYNC_PW }
                writeBind: { dn: "cn=writer,dc=example,dc=com", passwordFile: /etc/ldapsync/writer.pw }
                timeout: 2m
                users: { base: "dc=example,dc=com", scope: one, filter: "(objectClass=person)", id: entryUUID, key: uid }
                groups: { base: "dc=example,dc=com", scope: base, filter: "(objectClass=posixGroup)", members: memberUid }
                timestamp: { attribute: modifyTimestamp, pattern: "yyyyMMddHHmmss'Z'", overlap: 0 }
                pageSize: 500
                deletions: tombstones
            app:
              kind: postgres
              url: postgres://sync@db.example.com/app
              passwordFile: db.pw
              users: { table: people, key: login, managed: managed_by_ldap, active: enabled, updatedAt: null }
              memberships: { table: memberships, user: login, group: team }
            attributes:
              - { ldap: mail, app: email, direction: both, conflict: app-wins, sensitive: true }
              - { ldap: memberOfDepartments, app: departments, transform: { join: ";" } }
              - { ldap: description, app: notes, multiValued: true, transform: trim }
            writeBack: { enabled: true }
            groups: mirror
            users: { autoDeactivate: true, adoptExisting: true }
            safety: { maxDeactivations: 50, maxGroupRemovals: 0.5% }
            cursor: { display: "yyyy-MM-dd HH:mm" }
            audit: { path: audit/audit.jsonl }
            state: state

            """
        let configuration = try load(yaml)
        let directory = try #require(configuration.directories.first)
        #expect(directory.name == "ad-east")
        #expect(directory.startTLS)
        #expect(directory.tls == TLSConfiguration(caFile: "/etc/ssl/corp-ca.pem", verify: false))
        #expect(directory.allowPlaintext)
        #expect(directory.bind == BindConfiguration(dn: "sync@example.com", password: .environment("LDAPSYNC_PW")))
        #expect(directory.writeBind == BindConfiguration(dn: "cn=writer,dc=example,dc=com", password: .file("/etc/ldapsync/writer.pw")))
        #expect(directory.timeout == .seconds(120))
        #expect(directory.users == UserScope(base: "dc=example,dc=com", scope: .one, filter: "(objectClass=person)", id: "entryUUID", key: "uid"))
        #expect(directory.groups == GroupScope(base: "dc=example,dc=com", scope: .base, filter: "(objectClass=posixGroup)", members: .memberUid))
        #expect(directory.timestamp == TimestampConfiguration(attribute: "modifyTimestamp", pattern: "yyyyMMddHHmmss'Z'", overlap: .zero))
        #expect(directory.pageSize == 500)
        #expect(directory.deletions == .tombstones)

        #expect(configuration.app.kind == .postgres(url: "postgres://sync@db.example.com/app", password: .file("/srv/ldapsync/db.pw")))
        #expect(configuration.app.users.table == "people")
        #expect(configuration.app.users.key == "login")
        #expect(configuration.app.users.managed == "managed_by_ldap")
        #expect(configuration.app.users.active == "enabled")
        #expect(configuration.app.users.updatedAt == nil)
        #expect(configuration.app.memberships.table == "memberships")
        #expect(configuration.app.memberships.user == "login")
        #expect(configuration.app.memberships.group == "team")

        var mail = AttributeMapping(ldap: "mail", app: "email")
        mail.direction = .both
        mail.conflict = .appWins
        mail.sensitive = true
        var departments = AttributeMapping(ldap: "memberOfDepartments", app: "departments")
        departments.transform = .join(";")
        var notes = AttributeMapping(ldap: "description", app: "notes")
        notes.multiValued = true
        notes.transform = .trim
        #expect(configuration.attributes == [mail, departments, notes])

        #expect(configuration.writeBack.enabled)
        #expect(configuration.groups == .mirror)
        #expect(configuration.users == UserPolicy(autoDeactivate: true, adoptExisting: true))
        #expect(configuration.safety.maxDeactivations == .count(50))
        #expect(configuration.safety.maxGroupRemovals == .percent(0.5))
        #expect(configuration.cursor.display == "yyyy-MM-dd HH:mm")
        #expect(configuration.audit.path == "/srv/ldapsync/audit/audit.jsonl")
        #expect(configuration.statePath == "/srv/ldapsync/state")
    }

    @Test func sectionsLeftEmptyTakeTheirDefaults() throws {
        let yaml = minimalYAML + """

            app:
            attributes:
            writeBack:
            users:
            safety:
            cursor:
            audit:

            """
        let configuration = try load(yaml)
        #expect(configuration == (try load(minimalYAML)))
    }
}
