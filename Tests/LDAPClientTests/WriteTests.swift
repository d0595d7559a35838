import DirectoryModel
import LDAPClient
import SlapdSupport
import Testing

@Suite struct WriteTests {
    /// A fresh person under ou=people, unique per test.
    private func addPerson(_ uid: String, on connection: LDAPConnection, server: SlapdServer, extra: [Attribute] = []) throws -> String {
        let dn = "uid=\(uid),\(server.peopleBase)"
        try connection.perform(.add(dn: dn, attributes: [
            Attribute("objectClass", strings: ["inetOrgPerson"]), Attribute("uid", strings: [uid]),
            Attribute("cn", strings: [uid]), Attribute("sn", strings: ["Person"]),
        ] + extra))
        return dn
    }

    @Test func binaryValuesSurviveByteForByte() throws {
        let server = try TestServers.standard.get()
        let connection = try server.syncConnection()
        // A JPEG header, every byte value including NUL and 0xFF, and invalid UTF-8.
        var photo: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 0x4A, 0x46, 0x49, 0x46, 0x00]
        photo += (0...255).map { UInt8($0) } + (0...255).reversed().map { UInt8($0) }
        photo += [0xFF, 0xD9]
        let dn = try addPerson("binary-test", on: connection, server: server, extra: [Attribute("jpegPhoto", values: [photo])])

        let entry = try #require(try connection.readEntry(dn: dn, attributes: ["jpegPhoto", "entryUUID"]))
        #expect(entry["jpegPhoto"] == [photo])
        let uuid = try #require(entry["entryUUID"]?.first)
        #expect(uuid.count == 36)

        // The entryUUID read back finds the same entry through an escaped filter.
        var found: [String] = []
        try connection.search(SearchRequest(base: server.peopleBase, filter: .equality("entryUUID", uuid),
                                             attributes: ["entryUUID"])) { view in
            found.append(view.dn)
            #expect(view.values(of: "entryuuid") == [uuid])
        }
        #expect(found == [dn])
    }

    @Test func modifyAppliesAddDeleteAndReplace() throws {
        let server = try TestServers.standard.get()
        let connection = try server.syncConnection()
        let dn = try addPerson("modify-test", on: connection, server: server, extra: [
            Attribute("mail", strings: ["a@example.com", "b@example.com"]),
            Attribute("telephoneNumber", strings: ["+1 555 0100"]),
            Attribute("description", strings: ["to be removed"]),
        ])
        try connection.perform(.modify(dn: dn, modifications: [
            Modification(.add, "mail", strings: ["c@example.com"]),
            Modification(.delete, "mail", strings: ["a@example.com"]),
            Modification(.replace, "telephoneNumber", strings: ["+1 555 0199"]),
            Modification(.delete, "description", values: []),
        ]))
        let entry = try #require(try connection.readEntry(dn: dn, attributes: ["mail", "telephoneNumber", "description"]))
        #expect(Set(entry.strings("mail")) == ["b@example.com", "c@example.com"])
        #expect(entry.strings("telephoneNumber") == ["+1 555 0199"])
        #expect(entry["description"] == nil)
    }

    @Test func renameWithNewSuperiorKeepsEntryUUID() throws {
        let server = try TestServers.standard.get()
        let root = try server.rootConnection()
        let moved = "ou=moved-\(UInt32.random(in: 0...UInt32.max)),\(server.configuration.suffix)"
        try root.perform(.add(dn: moved, attributes: [
            Attribute("objectClass", strings: ["organizationalUnit"]),
            Attribute("ou", strings: [String(moved.split(separator: ",")[0].dropFirst(3))]),
        ]))
        let dn = try addPerson("rename-test", on: root, server: server)
        let before = try #require(try root.readEntry(dn: dn, attributes: ["entryUUID"])?["entryUUID"])

        try root.perform(.rename(dn: dn, newRDN: "uid=renamed-test", newSuperior: moved, deleteOldRDN: true))

        let renamed = try #require(try root.readEntry(dn: "uid=renamed-test,\(moved)", attributes: ["entryUUID", "uid"]))
        #expect(renamed["entryUUID"] == before)
        #expect(renamed.strings("uid") == ["renamed-test"])
        let gone = #expect(throws: LDAPError.self) { try root.readEntry(dn: dn) }
        #expect(gone?.code == .noSuchObject)
        #expect(gone?.matchedDN?.lowercased() == server.peopleBase.lowercased())
    }

    @Test func thousandPipelinedModifiesAreAllAcknowledged() throws {
        let server = try TestServers.standard.get()
        let connection = try server.syncConnection()
        // Fixture people 1,001...2,000 belong to this test alone.
        let targets = (1_001...2_000).map { "uid=\(Fixtures.personUID($0)),\(server.peopleBase)" }
        let operations = targets.map { dn in
            WriteOperation.modify(dn: dn, modifications: [Modification(.replace, "title", strings: ["pipelined \(dn.hashValue)"])])
        }
        var outcomes = [Result<Void, LDAPError>?](repeating: nil, count: operations.count)
        connection.pipeline(operations, window: 64) { index, result in
            #expect(outcomes[index] == nil, "operation \(index) completed twice")
            outcomes[index] = result
        }
        let failures = outcomes.compactMap { outcome -> LDAPError? in
            if case .failure(let error) = outcome { return error } else { return nil }
        }
        #expect(outcomes.allSatisfy { $0 != nil })
        #expect(failures.isEmpty, "\(failures.prefix(3))")
        for dn in [targets[0], targets[499], targets[999]] {
            let title = try connection.readEntry(dn: dn, attributes: ["title"])?.strings("title")
            #expect(title == ["pipelined \(dn.hashValue)"])
        }
    }

    @Test func unknownAttributeGivesItsCodeAndDiagnostic() throws {
        let server = try TestServers.standard.get()
        let connection = try server.syncConnection()
        let dn = try addPerson("unknown-attribute-test", on: connection, server: server)
        let error = #expect(throws: LDAPError.self) {
            try connection.perform(.modify(dn: dn, modifications: [Modification(.replace, "trainingRecordX", strings: ["x"])]))
        }
        #expect(error?.code == .undefinedAttributeType)
        #expect(error?.diagnostic?.contains("trainingRecordX") == true)
        #expect(error?.dn == dn)
        #expect(error?.operation == "modify")
    }

    @Test func objectClassViolationGivesItsCodeAndDiagnostic() throws {
        let server = try TestServers.standard.get()
        let connection = try server.syncConnection()
        let dn = "uid=no-surname,\(server.peopleBase)"
        let error = #expect(throws: LDAPError.self) {
            try connection.perform(.add(dn: dn, attributes: [
                Attribute("objectClass", strings: ["inetOrgPerson"]), Attribute("uid", strings: ["no-surname"]),
                Attribute("cn", strings: ["No Surname"]),
            ]))
        }
        #expect(error?.code == .objectClassViolation)
        #expect(error?.diagnostic?.contains("sn") == true)
        #expect(error?.description.contains("objectClassViolation (65)") == true)
    }

    @Test func pipelineReportsEachFailureAndWritesTheRest() throws {
        let server = try TestServers.standard.get()
        let connection = try server.syncConnection()
        let good = try addPerson("pipeline-good", on: connection, server: server)
        let missing = "uid=pipeline-missing,\(server.peopleBase)"
        let operations: [WriteOperation] = [
            .modify(dn: good, modifications: [Modification(.replace, "title", strings: ["one"])]),
            .modify(dn: missing, modifications: [Modification(.replace, "title", strings: ["two"])]),
            .modify(dn: good, modifications: [Modification(.add, "mail", strings: ["x@example.com"])]),
        ]
        var outcomes: [Int: Result<Void, LDAPError>] = [:]
        connection.pipeline(operations, window: 1) { outcomes[$0] = $1 }
        #expect(outcomes.count == 3)
        guard case .failure(let error) = outcomes[1] else {
            Issue.record("modify of a missing entry succeeded")
            return
        }
        #expect(error.code == .noSuchObject)
        #expect(error.dn == missing)
        #expect((try? outcomes[0]?.get()) != nil)
        #expect((try? outcomes[2]?.get()) != nil)
    }
}
