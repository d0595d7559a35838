import DirectoryModel
import LDAPClient
import SyncConfig

/// `ldapsync doctor --write-test KEY` (SPEC §10): rewrites each write-back attribute of
/// one user with its current values, as the write principal, and reports per attribute
/// whether the server allows it.
///
/// The only write the doctor makes. Each attribute is a separate `replace` of the values
/// the entry holds (no value: a `replace` with none, which changes nothing but is still
/// checked against the access rules), so the entry's data stays as it was; the server
/// does update its `modifyTimestamp`, so the next run re-reads that one entry and finds
/// nothing to do.
struct WriteTest {
    let configuration: Configuration
    let directory: DirectoryConfiguration
    let key: String
    private(set) var checks: [DoctorCheck] = []

    init(configuration: Configuration, directory: DirectoryConfiguration, key: String) {
        self.configuration = configuration
        self.directory = directory
        self.key = key
    }

    private mutating func add(_ status: DoctorCheck.Status, _ summary: String, advice: String? = nil) {
        checks.append(DoctorCheck(status, directory: directory.name, area: "writeTest", summary, advice: advice))
    }

    /// The attributes a run may write to LDAP: direction `both` or `to-ldap`.
    private var writeBackAttributes: [AttributeMapping] {
        configuration.attributes.filter { $0.direction != .fromLDAP }
    }

    mutating func skip(because reason: String) {
        add(.skip, "write test: not run", advice: reason)
    }

    /// Finds the user with `finder` (the connection the other checks used) and rewrites
    /// with `writer`, bound as `principal`.
    mutating func run(finder: LDAPConnection, writer: LDAPConnection, principal: BindConfiguration) {
        guard configuration.writeBack.enabled else {
            skip(because: "writeBack.enabled is false, so ldapsync writes nothing to LDAP; set writeBack: { enabled: true } to use write-back, then test again. Nothing was written")
            return
        }
        let attributes = writeBackAttributes
        guard !attributes.isEmpty else {
            skip(because: "no mapped attribute has direction both or to-ldap, so ldapsync writes nothing to LDAP. Nothing was written")
            return
        }
        guard let user = findUser(finder, attributes: attributes) else { return }
        for mapping in attributes {
            let values = user[mapping.ldap] ?? []
            let operation = WriteOperation.modify(dn: user.dn, modifications: [Modification(.replace, mapping.ldap, values: values)])
            let what = values.isEmpty ? "no value, so an empty replace that changes nothing" : "its current \(count(values.count, "value", "values"))"
            do {
                try writer.perform(operation)
                add(.pass, "write test: \(mapping.ldap) of \(user.dn) rewritten with \(what) as \(principal.dn)")
            } catch {
                add(.fail, "write test: writing \(mapping.ldap) of \(user.dn) as \(principal.dn) was refused: \(error.code.name) (\(error.code.rawValue))\(error.diagnostic.map { ": \($0)" } ?? "")",
                    advice: advice(error, attribute: mapping.ldap, dn: user.dn, principal: principal.dn))
            }
        }
    }

    /// The one user in scope whose key is `key`, with the write-back attributes; nil
    /// after a FAIL saying why.
    private mutating func findUser(_ connection: LDAPConnection, attributes: [AttributeMapping]) -> Entry? {
        let filter: String
        do {
            filter = Filter.and([try Filter(parsing: directory.users.filter), .equality(directory.users.key, key)]).description
        } catch {
            add(.fail, "write test: users.filter cannot be read: \(error)", advice: "correct users.filter of directory \(directory.name)")
            return nil
        }
        var found: [Entry] = []
        do {
            try connection.search(SearchRequest(base: directory.users.base, scope: searchScope(directory.users.scope), filter: filter,
                                                attributes: attributes.map(\.ldap.description), pageSize: 10)) { entry in
                found.append(entry.makeEntry())
            }
        } catch {
            add(.fail, "write test: cannot search for \(directory.users.key)=\(key): \(error)",
                advice: "see the base DN and size limit lines above")
            return nil
        }
        guard let user = found.first else {
            add(.fail, "write test: no user with \(directory.users.key)=\(key) under \(directory.users.base) matches \(directory.users.filter)",
                advice: "give the key of a user in scope (the value of \(directory.users.key), which is the app key)")
            return nil
        }
        guard found.count == 1 else {
            add(.fail, "write test: \(found.count) users have \(directory.users.key)=\(key) (\(found.map(\.dn).joined(separator: "; ")))",
                advice: "users.key must identify one user; pick another key, or make \(directory.users.key) unique")
            return nil
        }
        return user
    }

    private func advice(_ error: LDAPError, attribute: AttributeName, dn: String, principal: String) -> String {
        switch error.code {
        case .insufficientAccessRights:
            "grant \(principal) write access to \(attribute) on the users (OpenLDAP: an olcAccess rule such as to dn.subtree=\"\(directory.users.base)\" attrs=\(attribute) by dn.exact=\"\(principal)\" write; AD: delegate \"Write \(attribute)\" on the users' OU)"
        case .objectClassViolation:
            "the object classes of \(dn) do not allow \(attribute): add an auxiliary object class that allows it to the users"
        case .undefinedAttributeType:
            "the server does not know \(attribute): load the schema that defines it, or correct the mapping"
        case .constraintViolation, .invalidAttributeSyntax:
            "the server refuses the current values themselves (a constraint or syntax rule): see its diagnostic"
        case .unwillingToPerform:
            "the server refuses to modify \(attribute) (it may be operational, constructed or replicated read-only here): write to a writable server or drop the attribute from write-back"
        case .noSuchObject:
            "\(dn) was removed meanwhile: test with another user"
        default:
            BindDiagnosis.connectionAdvice(error, directory: directory)
        }
    }
}
