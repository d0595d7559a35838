import DirectoryModel

/// The root DSE (RFC 4512 §5.1): what the server says about itself.
public struct RootDSE: Sendable {
    /// The whole entry as returned.
    public var entry: Entry

    public var namingContexts: [String] { strings("namingContexts") }
    public var supportedControls: [String] { strings("supportedControl") }
    public var supportedExtensions: [String] { strings("supportedExtension") }
    public var supportedSASLMechanisms: [String] { strings("supportedSASLMechanisms") }
    public var supportedLDAPVersions: [String] { strings("supportedLDAPVersion") }
    public var subschemaSubentry: String? { strings("subschemaSubentry").first }
    public var vendorName: String? { strings("vendorName").first }
    public var vendorVersion: String? { strings("vendorVersion").first }
    /// Active Directory: the domain's naming context.
    public var defaultNamingContext: String? { strings("defaultNamingContext").first }
    /// Active Directory: the server's clock (GeneralizedTime), for skew checks.
    public var currentTime: String? { strings("currentTime").first }

    /// RFC 2696 paged results (1.2.840.113556.1.4.319) is offered.
    public var supportsPagedResults: Bool { supportedControls.contains("1.2.840.113556.1.4.319") }
    /// StartTLS (1.3.6.1.4.1.1466.20037) is offered.
    public var supportsStartTLS: Bool { supportedExtensions.contains("1.3.6.1.4.1.1466.20037") }
    /// The server looks like Active Directory (or Samba's AD DC): it advertises an AD
    /// capability OID.
    public var isActiveDirectory: Bool { strings("supportedCapabilities").contains("1.2.840.113556.1.4.800") }

    private func strings(_ name: AttributeName) -> [String] {
        (entry[name] ?? []).compactMap { String(validating: $0, as: UTF8.self) }
    }
}

extension LDAPConnection {
    /// Reads the root DSE.
    public func readRootDSE() throws -> RootDSE {
        let attributes = ["namingContexts", "supportedControl", "supportedExtension", "supportedSASLMechanisms",
                          "supportedLDAPVersion", "subschemaSubentry", "vendorName", "vendorVersion",
                          "supportedCapabilities", "defaultNamingContext", "currentTime", "dnsHostName", "+"]
        let entry = try readEntry(dn: "", attributes: attributes)
        guard let entry else { throw LDAPError(operation: "search", dn: "", code: .noSuchObject, diagnostic: "the server returned no root DSE") }
        return RootDSE(entry: entry)
    }

    /// Reads the subschema named by the root DSE (`cn=Subschema` on OpenLDAP,
    /// `CN=Aggregate,CN=Schema,...` on AD); `rootDSE`, when the caller has read it
    /// already, saves reading it again.
    public func readSchema(rootDSE: RootDSE? = nil) throws -> Schema {
        let location = try (rootDSE ?? readRootDSE()).subschemaSubentry ?? "cn=Subschema"
        let entry = try readEntry(dn: location, attributes: ["attributeTypes", "objectClasses"], filter: "(objectClass=subschema)")
        guard let entry else { throw LDAPError(operation: "search", dn: location, code: .noSuchObject, diagnostic: "no subschema entry") }
        func strings(_ name: AttributeName) throws(SchemaError) -> [String] {
            try (entry[name] ?? []).map { value throws(SchemaError) in
                guard let text = String(validating: value, as: UTF8.self) else {
                    throw SchemaError(text: "(\(value.count) bytes of \(name))", reason: "not valid UTF-8")
                }
                return text
            }
        }
        return try Schema(attributeTypes: strings("attributeTypes"), objectClasses: strings("objectClasses"))
    }

    /// Reads one entry by DN (a base-scope, unpaged search); nil when the server returns
    /// none. `noSuchObject` is thrown as an error naming the DN and the matched DN.
    public func readEntry(dn: String, attributes: [String] = [], filter: String = "(objectClass=*)") throws -> Entry? {
        var found: Entry?
        try search(SearchRequest(base: dn, scope: .base, filter: filter, attributes: attributes, pageSize: nil)) { entry in
            found = entry.makeEntry()
        }
        return found
    }
}
