import Testing
@testable import SyncConfig

/// `minimalYAML` with `lines` appended to its directory (they start at line 8).
private func directory(_ lines: String) -> String { minimalYAML + lines + "\n" }

/// `minimalYAML` with top-level `lines` appended (they start at line 8).
private func topLevel(_ lines: String) -> String { minimalYAML + lines + "\n" }

/// `minimalYAML` with a groups section in its directory (lines 8-9), then `lines`
/// (from line 10).
private func withGroupScope(_ lines: String) -> String {
    minimalYAML + "    groups:\n      base: \"ou=groups,dc=example,dc=com\"\n" + lines + "\n"
}

/// Every rejected configuration names the file, the line, the key path and what was
/// expected.
@Suite struct ValidationTests {
    @Test func typoInAKeyNamesLineColumnKeyPathAndSuggestion() throws {
        let yaml = """
            version: 1
            directories:
              - name: corp
                url: ldaps://dc1.example.com
                bind: { dn: "cn=sync,dc=example,dc=com", passwordFile: corp.pw }
                timeout: 30s
                usres:
                  base: "ou=people,dc=example,dc=com"

            """
        let error = try #require(loadError(yaml))
        #expect(error.line == 7)
        #expect(error.column == 5)
        #expect(error.keyPath == "directories[0].usres")
        #expect(error.description.hasPrefix("ldapsync.yaml:7:5: directories[0].usres: unknown key; did you mean users?"))
        #expect(error.message.contains("Expected keys: name, type, url,"))
    }

    static let structure: [ErrorCase] = [
        ErrorCase("empty file", "", line: 1, "", "the file is empty"),
        ErrorCase("root is a list", "- version: 1\n", line: 1, "", "expected a mapping"),
        ErrorCase("version missing", "directories: []\n", line: 1, "version", "add version: 1"),
        ErrorCase("version 2", "version: 2\ndirectories: []\n", line: 1, "version", "unsupported version 2; this ldapsync reads version 1"),
        ErrorCase("version quoted", "version: \"1\"\n", line: 1, "version", "remove the quotes"),
        ErrorCase("version checked before keys", "version: 3\nfuture: x\n", line: 1, "version", "unsupported version 3"),
        ErrorCase("unknown top-level key", topLevel("stat: /var/lib/x"), line: 8, "stat", "unknown key; did you mean state?"),
        ErrorCase("unknown key without a close match", topLevel("colour: blue"), line: 8, "colour", "unknown key. Expected keys: version, state,"),
        ErrorCase("directories missing", "version: 1\n", line: 1, "directories", "required key missing"),
        ErrorCase("no directories", "version: 1\ndirectories: []\n", line: 2, "directories", "no directories"),
        ErrorCase("directories not a list", "version: 1\ndirectories: { name: corp }\n", line: 2, "directories", "expected a list, found a mapping"),
        ErrorCase("directory without users", "version: 1\ndirectories:\n  - name: corp\n    url: ldap://localhost\n    bind: { dn: cn=x, passwordEnv: PW }\n",
                  line: 3, "directories[0].users", "required key missing"),
        ErrorCase("users without base", minimalYAML.replacingOccurrences(of: "      base: \"ou=people,dc=example,dc=com\"\n", with: "      scope: one\n"),
                  line: 6, "directories[0].users.base", "required key missing: expected the DN under which users are searched"),
        ErrorCase("state empty", topLevel("state: \"\""), line: 8, "state", "expected a non-empty string"),
        ErrorCase("state a list", topLevel("state: [a, b]"), line: 8, "state", "expected a string, found a list"),
    ]

    static let directories: [ErrorCase] = [
        ErrorCase("name with a slash", minimalYAML.replacingOccurrences(of: "name: corp", with: "name: \"corp/east\""),
                  line: 3, "directories[0].name", "not a valid directory name"),
        ErrorCase("duplicate names", minimalYAML + "  - name: Corp\n    url: ldap://localhost\n    bind: { dn: cn=x, passwordEnv: PW }\n    users: { base: \"dc=x\" }\n",
                  line: 8, "directories[1].name", "duplicate directory name \"Corp\": directories[0] has it already"),
        ErrorCase("url scheme http", minimalYAML.replacingOccurrences(of: "url: ldaps://", with: "url: https://"),
                  line: 4, "directories[0].url", "expected a URL starting with ldap://, ldaps:// or ldapi://"),
        ErrorCase("two urls", minimalYAML.replacingOccurrences(of: "url: ldaps://dc1.example.com", with: "url: ldaps://dc1 ldaps://dc2"),
                  line: 4, "directories[0].url", "expected one URL without spaces"),
        ErrorCase("startTLS over ldaps", directory("    startTLS: true"), line: 8, "directories[0].startTLS", "startTLS: true needs an ldap:// URL; ldaps:// is already encrypted"),
        ErrorCase("startTLS over ldapi", minimalYAML.replacingOccurrences(of: "url: ldaps://dc1.example.com", with: "url: ldapi:///") + "    startTLS: true\n",
                  line: 8, "directories[0].startTLS", "ldapi:// is a local socket"),
        ErrorCase("type misspelt", directory("    type: openLDAP"), line: 8, "directories[0].type", "did you mean openldap? Expected one of openldap, ad, generic"),
        ErrorCase("type unknown", directory("    type: novell"), line: 8, "directories[0].type", "expected one of openldap, ad, generic"),
        ErrorCase("scope unknown", minimalYAML + "      scope: subtree\n", line: 8, "directories[0].users.scope", "expected one of base, one, sub"),
        ErrorCase("deletions unknown", directory("    deletions: sometimes"), line: 8, "directories[0].deletions", "expected one of every-run, full-only, tombstones, off"),
        ErrorCase("tombstones outside AD", directory("    deletions: tombstones"), line: 8, "directories[0].deletions", "needs type: ad"),
        ErrorCase("members unknown", withGroupScope("      members: memberuid"), line: 10, "directories[0].groups.members", "did you mean memberUid?"),
        ErrorCase("pageSize not a number", directory("    pageSize: many"), line: 8, "directories[0].pageSize", "expected an integer, found \"many\""),
        ErrorCase("pageSize zero", directory("    pageSize: 0"), line: 8, "directories[0].pageSize", "must be from 1 to 2147483647"),
        ErrorCase("pageSize too large", directory("    pageSize: 2147483648"), line: 8, "directories[0].pageSize", "must be from 1 to 2147483647"),
        ErrorCase("pageSize quoted", directory("    pageSize: \"500\""), line: 8, "directories[0].pageSize", "remove the quotes"),
        ErrorCase("pageSize fraction", directory("    pageSize: 10.5"), line: 8, "directories[0].pageSize", "expected an integer"),
        ErrorCase("timeout without unit", directory("    timeout: 30"), line: 8, "directories[0].timeout", "needs a unit"),
        ErrorCase("timeout zero", directory("    timeout: 0s"), line: 8, "directories[0].timeout", "must be longer than zero"),
        ErrorCase("overlap negative", directory("    timestamp: { overlap: -1m }"), line: 8, "directories[0].timestamp.overlap", "expected a duration"),
        ErrorCase("users base invalid", minimalYAML.replacingOccurrences(of: "base: \"ou=people,dc=example,dc=com\"", with: "base: \"ou=people,,dc=example\""),
                  line: 7, "directories[0].users.base", "invalid DN \"ou=people,,dc=example\""),
        ErrorCase("users filter invalid", minimalYAML + "      filter: \"(objectClass=person\"\n", line: 8, "directories[0].users.filter", "invalid filter"),
        ErrorCase("groups without base", directory("    groups: { filter: \"(objectClass=group)\" }"), line: 8, "directories[0].groups.base", "required key missing"),
        ErrorCase("groups base invalid", directory("    groups: { base: \"cn\" }"), line: 8, "directories[0].groups.base", "invalid DN"),
        ErrorCase("groups filter invalid", withGroupScope("      filter: \"objectClass=group)\""), line: 10, "directories[0].groups.filter", "invalid filter"),
        ErrorCase("id not an attribute", minimalYAML + "      id: \"entry UUID\"\n", line: 8, "directories[0].users.id", "not an attribute name"),
        ErrorCase("timestamp attribute not an attribute", directory("    timestamp: { attribute: \"modify,Timestamp\" }"), line: 8, "directories[0].timestamp.attribute", "not an attribute name"),
        ErrorCase("tls key misspelt", directory("    tls: { cafile: ca.pem }"), line: 8, "directories[0].tls.cafile", "did you mean caFile?"),
        ErrorCase("tls verify off", directory("    tls: { verify: off }"), line: 8, "directories[0].tls.verify", "write true or false"),
        ErrorCase("timestamp key misspelt", directory("    timestamp:\n      patern: ad"), line: 9, "directories[0].timestamp.patern", "did you mean pattern?"),
    ]

    static let passwords: [ErrorCase] = [
        ErrorCase("inline bind password", minimalYAML.replacingOccurrences(of: "passwordFile: corp.pw", with: "password: hunter2"),
                  line: 5, "directories[0].bind.password", "an inline password is not accepted; put it in a file readable only by ldapsync (passwordFile: PATH, chmod 600) or in an environment variable (passwordEnv: NAME)"),
        ErrorCase("inline writeBind password", directory("    writeBind: { dn: \"cn=w\", password: hunter2 }"), line: 8, "directories[0].writeBind.password", "(passwordEnv: NAME)"),
        ErrorCase("bind without password", directory("    writeBind:\n      dn: \"cn=w\""), line: 8, "directories[0].writeBind.passwordFile", "passwordFile: PATH or passwordEnv: NAME"),
        ErrorCase("bind with both sources", directory("    writeBind: { dn: \"cn=w\", passwordFile: w.pw, passwordEnv: W }"), line: 8, "directories[0].writeBind.passwordEnv", "not both"),
        ErrorCase("bind environment name invalid", directory("    writeBind: { dn: \"cn=w\", passwordEnv: \"MY-PW\" }"), line: 8, "directories[0].writeBind.passwordEnv", "not an environment variable name"),
        ErrorCase("bind without dn", directory("    writeBind: { passwordEnv: W }"), line: 8, "directories[0].writeBind.dn", "required key missing"),
        ErrorCase("bind missing", "version: 1\ndirectories:\n  - name: corp\n    url: ldap://localhost\n    users: { base: \"dc=x\" }\n",
                  line: 3, "directories[0].bind", "required key missing"),
        ErrorCase("app inline password", topLevel("app: { kind: postgres, url: \"postgres://db/app\", password: hunter2 }"), line: 8, "app.password", "an inline password is not accepted"),
        ErrorCase("postgres url with password", topLevel("app: { kind: postgres, url: \"postgres://sync:hunter2@db/app\" }"), line: 8, "app.url", "the URL holds a password"),
        ErrorCase("postgres url with password parameter", topLevel("app: { kind: postgres, url: \"postgresql://db/app?sslmode=require&password=hunter2\" }"), line: 8, "app.url", "the URL holds a password"),
    ]

    static let app: [ErrorCase] = [
        ErrorCase("kind unknown", topLevel("app: { kind: mysql }"), line: 8, "app.kind", "expected one of sqlite, postgres"),
        ErrorCase("url with sqlite", topLevel("app: { kind: sqlite, url: \"postgres://db/app\" }"), line: 8, "app.url", "url is for kind: postgres"),
        ErrorCase("path with postgres", topLevel("app:\n  kind: postgres\n  url: \"postgres://db/app\"\n  path: app.db"), line: 11, "app.path", "path is for kind: sqlite"),
        ErrorCase("postgres without url", topLevel("app: { kind: postgres }"), line: 8, "app.url", "required key missing"),
        ErrorCase("postgres url scheme", topLevel("app: { kind: postgres, url: \"mysql://db/app\" }"), line: 8, "app.url", "postgres://"),
        ErrorCase("table name with SQL", topLevel("app:\n  users: { table: \"users; DROP TABLE users\" }"), line: 9, "app.users.table", "not a valid table or column name"),
        ErrorCase("column name with a dash", topLevel("app:\n  users: { key: user-name }"), line: 9, "app.users.key", "not a valid table or column name"),
        ErrorCase("column name starting with a digit", topLevel("app:\n  memberships: { user: 1user }"), line: 9, "app.memberships.user", "not starting with a digit"),
        ErrorCase("two roles, one column", topLevel("app:\n  users: { key: login, active: Login }"), line: 9, "app.users.active", "column Login is already app.users.key"),
        ErrorCase("membership columns equal", topLevel("app:\n  memberships: { user: name, group: name }"), line: 9, "app.memberships.group", "must differ from the user column"),
        ErrorCase("membership table is the users table", topLevel("app:\n  memberships: { table: users }"), line: 9, "app.memberships.table", "must differ from the users table"),
        ErrorCase("app users key misspelt", topLevel("app:\n  users: { updated_at: changed }"), line: 9, "app.users.updated_at", "did you mean updatedAt?"),
    ]

    static let attributes: [ErrorCase] = [
        ErrorCase("not a list", topLevel("attributes: { ldap: mail, app: email }"), line: 8, "attributes", "expected a list, found a mapping"),
        ErrorCase("ldap missing", topLevel("attributes:\n  - { app: email }"), line: 9, "attributes[0].ldap", "required key missing"),
        ErrorCase("app missing", topLevel("attributes:\n  - { ldap: mail }"), line: 9, "attributes[0].app", "required key missing"),
        ErrorCase("unknown key", topLevel("attributes:\n  - { ldap: mail, app: email, multivalued: true }"), line: 9, "attributes[0].multivalued", "did you mean multiValued?"),
        ErrorCase("LDAP attribute twice", topLevel("attributes:\n  - { ldap: mail, app: email }\n  - { ldap: MAIL, app: email2 }"),
                  line: 10, "attributes[1].ldap", "the LDAP attribute MAIL is already mapped by attributes[0]"),
        ErrorCase("app column twice", topLevel("attributes:\n  - { ldap: mail, app: email }\n  - { ldap: mailAlternateAddress, app: Email }"),
                  line: 10, "attributes[1].app", "the app column Email is already mapped by attributes[0]"),
        ErrorCase("app column is the key", topLevel("attributes:\n  - { ldap: uid, app: key }"), line: 9, "attributes[0].app", "app.users.key, which ldapsync manages itself"),
        ErrorCase("app column is managed", topLevel("attributes:\n  - { ldap: description, app: ldap_managed }"), line: 9, "attributes[0].app", "app.users.managed"),
        ErrorCase("app column is active", topLevel("attributes:\n  - { ldap: description, app: active }"), line: 9, "attributes[0].app", "app.users.active"),
        ErrorCase("app column is updatedAt", topLevel("attributes:\n  - { ldap: modifyTimestamp, app: updated_at }"), line: 9, "attributes[0].app", "app.users.updatedAt"),
        ErrorCase("app column not an identifier", topLevel("attributes:\n  - { ldap: mail, app: \"e-mail\" }"), line: 9, "attributes[0].app", "not a valid table or column name"),
        ErrorCase("ldap not an attribute", topLevel("attributes:\n  - { ldap: \"mail address\", app: email }"), line: 9, "attributes[0].ldap", "not an attribute name"),
        ErrorCase("direction misspelt", topLevel("attributes:\n  - { ldap: mail, app: email, direction: to_ldap }"), line: 9, "attributes[0].direction", "did you mean to-ldap?"),
        ErrorCase("conflict unknown", topLevel("attributes:\n  - { ldap: mail, app: email, conflict: first }"), line: 9, "attributes[0].conflict", "expected one of ldap-wins, app-wins, newest, manual"),
        ErrorCase("newest without updatedAt", topLevel("app:\n  users: { updatedAt: null }\nattributes:\n  - { ldap: mail, app: email, conflict: newest }"),
                  line: 11, "attributes[0].conflict", "app.users.updatedAt is null"),
        ErrorCase("findEdits without updatedAt", topLevel("app:\n  users: { updatedAt: null }\n  findEdits: updated-at"),
                  line: 10, "app.findEdits", "finds the app's edits by the app.users.updatedAt column, but it is null"),
        ErrorCase("findEdits unknown", topLevel("app:\n  findEdits: updated_at"), line: 9, "app.findEdits", "did you mean updated-at?"),
        ErrorCase("binary with a transform", topLevel("attributes:\n  - { ldap: jpegPhoto, app: photo, binary: true, transform: trim }"), line: 9, "attributes[0].transform", "transform: trim works on text, but binary: true"),
        ErrorCase("json without multiValued", topLevel("attributes:\n  - { ldap: trainingRecord, app: training, transform: json }"), line: 9, "attributes[0].transform", "needs multiValued: true"),
        ErrorCase("join with multiValued", topLevel("attributes:\n  - { ldap: mail, app: emails, multiValued: true, transform: { join: \",\" } }"), line: 9, "attributes[0].transform", "remove multiValued: true"),
        ErrorCase("join without separator", topLevel("attributes:\n  - { ldap: mail, app: emails, transform: join }"), line: 9, "attributes[0].transform", "join needs a separator"),
        ErrorCase("join with empty separator", topLevel("attributes:\n  - { ldap: mail, app: emails, transform: { join: \"\" } }"), line: 9, "attributes[0].transform.join", "expected the separator"),
        ErrorCase("transform unknown", topLevel("attributes:\n  - { ldap: mail, app: email, transform: uppercase }"), line: 9, "attributes[0].transform", "did you mean lowercase? Expected one of json, lowercase, trim"),
        ErrorCase("transform key unknown", topLevel("attributes:\n  - { ldap: mail, app: email, transform: { split: \",\" } }"), line: 9, "attributes[0].transform.split", "unknown key. Expected keys: join"),
        ErrorCase("sensitive yes", topLevel("attributes:\n  - { ldap: mail, app: email, sensitive: yes }"), line: 9, "attributes[0].sensitive", "yes/no/on/off are strings"),
    ]

    static let groups: [ErrorCase] = [
        ErrorCase("rules without any group scope", topLevel("groups:\n  - { app: Staff, ldap: \"cn=staff,dc=example,dc=com\" }"),
                  line: 8, "groups", "no directory has a groups: section"),
        ErrorCase("mirror without any group scope", topLevel("groups: mirror"), line: 8, "groups", "no directory has a groups: section"),
        ErrorCase("scalar other than mirror", withGroupScope("groups: all"), line: 10, "groups", "expected mirror or a list of rules"),
        ErrorCase("empty rule list", withGroupScope("groups: []"), line: 10, "groups", "an empty list of rules would sync no user"),
        ErrorCase("duplicate identical rule", withGroupScope("groups:\n  - { app: Staff, ldap: \"cn=staff,dc=example,dc=com\" }\n  - { app: Staff, ldap: \"CN=Staff, DC=example, DC=com\" }"),
                  line: 12, "groups[1]", "the same rule as groups[0]"),
        ErrorCase("rule DN invalid", withGroupScope("groups:\n  - { app: Staff, ldap: \"staff\" }"), line: 11, "groups[0].ldap", "invalid DN \"staff\""),
        ErrorCase("rule without app", withGroupScope("groups:\n  - { ldap: \"cn=staff,dc=x\" }"), line: 11, "groups[0].app", "required key missing"),
        ErrorCase("rule key misspelt", withGroupScope("groups:\n  - { app: Staff, ldpa: \"cn=staff,dc=x\" }"), line: 11, "groups[0].ldpa", "did you mean ldap?"),
    ]

    static let policies: [ErrorCase] = [
        ErrorCase("percentage above 100", topLevel("safety: { maxDeactivations: 150% }"), line: 8, "safety.maxDeactivations", "from 0% to 100%"),
        ErrorCase("negative count", topLevel("safety:\n  maxGroupRemovals: -3"), line: 9, "safety.maxGroupRemovals", "cannot be negative"),
        ErrorCase("limit words", topLevel("safety: { maxDeactivations: lots }"), line: 8, "safety.maxDeactivations", "expected a count such as 50 or a percentage"),
        ErrorCase("autoDeactivate on", topLevel("users: { autoDeactivate: on }"), line: 8, "users.autoDeactivate", "write true or false"),
        ErrorCase("writeBack enabled quoted", topLevel("writeBack: { enabled: \"true\" }"), line: 8, "writeBack.enabled", "remove the quotes"),
        ErrorCase("writeBack misspelt", topLevel("writeback: { enabled: true }"), line: 8, "writeback", "did you mean writeBack?"),
        ErrorCase("cursor display without hour", topLevel("cursor: { display: \"dd.MM.yyyy\" }"), line: 8, "cursor.display", "missing HH"),
        ErrorCase("audit path null", topLevel("audit: { path: null }"), line: 8, "audit.path", "expected a string, found nothing"),
    ]

    @Test(arguments: structure) func rejectsStructure(_ errorCase: ErrorCase) { errorCase.check() }
    @Test(arguments: directories) func rejectsDirectory(_ errorCase: ErrorCase) { errorCase.check() }
    @Test(arguments: passwords) func rejectsPasswordSetting(_ errorCase: ErrorCase) {
        errorCase.check()
        #expect(!(loadError(errorCase.yaml)?.description.contains("hunter2") ?? true), "a password must never be echoed")
    }
    @Test(arguments: app) func rejectsAppStore(_ errorCase: ErrorCase) { errorCase.check() }
    @Test(arguments: attributes) func rejectsAttributeMapping(_ errorCase: ErrorCase) { errorCase.check() }
    @Test(arguments: groups) func rejectsGroupMapping(_ errorCase: ErrorCase) { errorCase.check() }
    @Test(arguments: policies) func rejectsPolicy(_ errorCase: ErrorCase) { errorCase.check() }

    @Test func emptyAttributeListIsAllowed() throws {
        #expect(try load(topLevel("attributes: []")).attributes == [])
    }

    @Test func sameAppGroupMayMapToSeveralLDAPGroupsAndBack() throws {
        let configuration = try load(withGroupScope("""
            groups:
              - { app: Staff, ldap: "cn=staff,dc=example,dc=com" }
              - { app: Staff, ldap: "cn=contractors,dc=example,dc=com" }
              - { app: Everyone, ldap: "cn=staff,dc=example,dc=com" }
            """))
        #expect(configuration.groups == .rules([
            GroupRule(app: "Staff", ldap: "cn=staff,dc=example,dc=com"),
            GroupRule(app: "Staff", ldap: "cn=contractors,dc=example,dc=com"),
            GroupRule(app: "Everyone", ldap: "cn=staff,dc=example,dc=com"),
        ]))
    }

    @Test func groupsMirrorAndAbsent() throws {
        #expect(try load(withGroupScope("groups: mirror")).groups == .mirror)
        #expect(try load(withGroupScope("")).groups == .none)
        #expect(try load(withGroupScope("groups: null")).groups == .none)
    }
}

