@testable import LDAPClient
import Testing

@Suite struct ActiveDirectoryCodeTests {
    @Test(arguments: [
        ("80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 52e, v4563", ActiveDirectoryCode.invalidCredentials),
        ("80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 525, v4563", .userNotFound),
        ("... data 530, v2580", .invalidLogonHours),
        ("... data 531, v2580", .invalidWorkstation),
        ("... data 532, v2580", .passwordExpired),
        ("... data 533, v2580", .accountDisabled),
        ("... data 701, v2580", .accountExpired),
        ("... data 773, v2580", .mustChangePassword),
        ("... data 775, v2580", .accountLockedOut),
    ])
    func decodesTheDataSubcode(diagnostic: String, expected: ActiveDirectoryCode) {
        #expect(ActiveDirectoryCode(diagnostic: diagnostic) == expected)
        let error = LDAPError(operation: "bind", dn: "cn=sync", code: .invalidCredentials, diagnostic: diagnostic)
        #expect(error.activeDirectoryCode == expected)
        #expect(error.description.contains(expected.meaning))
    }

    @Test func diagnosticWithoutSubcodeHasNone() {
        #expect(ActiveDirectoryCode(diagnostic: "Invalid credentials") == nil)
        #expect(ActiveDirectoryCode(diagnostic: "data ") == nil)
    }
}

@Suite struct LDAPURLTests {
    @Test func ldapiPathIsPercentEncoded() {
        #expect(LDAPURL.ldapi(socketPath: "/run/slapd/ldapi") == "ldapi://%2Frun%2Fslapd%2Fldapi")
        #expect(LDAPURL.ldapi(socketPath: "/tmp/a b/ldapi") == "ldapi://%2Ftmp%2Fa%20b%2Fldapi")
    }

    @Test(arguments: [
        ("ldap://127.0.0.1:389", true), ("ldap://localhost", true), ("ldapi://%2Frun%2Fldapi", true),
        ("ldap://[::1]:389", true), ("ldap://dc1.example.com", false), ("ldaps://10.0.0.5:636", false),
        ("ldap://127.example.com", false),
    ])
    func loopbackDetection(url: String, local: Bool) {
        #expect(LDAPURL.isLocal(url) == local)
    }
}

@Suite struct ResultCodeTests {
    @Test func namesAndDescriptions() {
        #expect(LDAPResultCode.invalidCredentials.description == "invalidCredentials (49)")
        #expect(LDAPResultCode(rawValue: 4711).name == "code 4711")
        #expect(LDAPResultCode.serverDown.meansConnectionLost)
        #expect(!LDAPResultCode.busy.meansConnectionLost)
        #expect(LDAPResultCode.invalidCredentials.message == "Invalid credentials")
    }

    @Test func errorDescriptionNamesOperationDNCodeAndDiagnostic() {
        let error = LDAPError(operation: "modify", dn: "uid=a,dc=x", code: .insufficientAccessRights,
                              diagnostic: "no write access to parent", matchedDN: "dc=x")
        #expect(error.description == "LDAP modify \"uid=a,dc=x\" failed: insufficientAccessRights (50): no write access to parent (matched DN \"dc=x\")")
    }
}

@Suite struct SchemaParsingTests {
    @Test func parsesAttributeTypeDescription() throws {
        let schema = try Schema(attributeTypes: [
            "( 2.5.4.41 NAME 'name' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15{32768} )",
            "( 2.5.4.3 NAME ( 'cn' 'commonName' ) DESC 'RFC4519: common name(s) for which the entity is known by' SUP name )",
            "( 1.3.6.1.1.16.4 NAME 'entryUUID' DESC 'UUID of the entry' EQUALITY UUIDMatch ORDERING UUIDOrderingMatch SYNTAX 1.3.6.1.1.16.1 SINGLE-VALUE NO-USER-MODIFICATION USAGE directoryOperation )",
        ], objectClasses: [
            "( 2.5.6.6 NAME 'person' DESC 'RFC2256: a person' SUP top STRUCTURAL MUST ( sn $ cn ) MAY ( userPassword $ telephoneNumber ) )",
            "( 1.3.6.1.4.1.99999.2 NAME 'trainingPerson' AUXILIARY MAY trainingRecord )",
        ])
        let cn = try #require(schema.attributeType("commonName"))
        #expect(cn.names == ["cn", "commonName"])
        #expect(cn.equality == "caseIgnoreMatch")
        #expect(cn.syntax == "1.3.6.1.4.1.1466.115.121.1.15{32768}")
        let uuid = try #require(schema.attributeType("entryuuid"))
        #expect(uuid.isSingleValued && uuid.isNoUserModification)
        #expect(uuid.usage == "directoryOperation")
        #expect(schema.objectClass("person")?.must == ["sn", "cn"])
        #expect(schema.objectClass("trainingPerson")?.kind == .auxiliary)
        #expect(schema.allowedAttributes(forObjectClasses: ["trainingPerson"]) == ["trainingrecord"])
    }

    /// Tokens end at quotes, parentheses and blanks (tabs and line ends too), with or
    /// without spaces around them, whatever characters the quoted strings hold.
    @Test func tokensEndAtQuotesParenthesesAndBlanksWhateverTheCharacters() throws {
        let schema = try Schema(attributeTypes: [
            "(\t1.2.3 NAME('straße''nom')\r\n DESC 'Größe ( – ünïcödé ) $' EQUALITY caseIgnoreMatch SINGLE-VALUE)",
            "( 1.2.4 NAME '' SUP nom )",
        ], objectClasses: [])
        let type = try #require(schema.attributeType("nom"))
        #expect(type.oid == "1.2.3")
        #expect(type.names == ["straße", "nom"])
        #expect(type.equality == "caseIgnoreMatch")
        #expect(type.isSingleValued)
        let unnamed = try #require(schema.attributeType("1.2.4"))
        #expect(unnamed.names == [""])
        #expect(unnamed.superior == "nom")
    }

    @Test func unterminatedQuoteIsAnError() {
        #expect(throws: SchemaError.self) { try Schema(attributeTypes: ["( 1.2 NAME 'broken )"], objectClasses: []) }
    }
}

@Suite struct EntryTextTests {
    @Test func invalidUTF8InADNIsKeptAsHexEscapes() {
        let bytes: [UInt8] = Array("cn=caf".utf8) + [0xC3, 0xA9] + [0xFF] + Array(",dc=x".utf8)
        let text = bytes.withUnsafeBytes { EntryView.text($0) }
        #expect(text == "cn=café\\ff,dc=x")
    }
}
