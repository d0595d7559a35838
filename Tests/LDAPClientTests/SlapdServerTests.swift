import Foundation
import SlapdSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The test harness itself, checked with OpenLDAP's own command-line clients so that
/// these tests do not depend on the LDAP wrapper they exist to test.
@Suite struct SlapdServerTests {
    @Test func answersOnLDAPAndLDAPI() throws {
        let server = try SlapdServer.start()

        let root = try server.run("ldapwhoami", bindAs: server.configuration.rootDN, password: server.configuration.rootPassword)
        #expect(root.status == 0, "\(root.combinedOutput)")
        #expect(root.standardOutput.contains("dn:cn=admin,dc=example,dc=com"))

        let external = try server.runAsExternal("ldapwhoami", [])
        #expect(external.status == 0, "\(external.combinedOutput)")
        #expect(external.standardOutput.contains("dn:\(SlapdServer.externalIdentity)"))
        #expect(server.ldapiURL.hasPrefix("ldapi://%2F"))
        #expect(!server.ldapiURL.dropFirst("ldapi://".count).contains("/"))
    }

    @Test func externalIdentityCanInspectConfig() throws {
        let server = try SlapdServer.start()

        let config = try server.runAsExternal("ldapsearch", ["-b", "cn=config", "(olcDatabase=*)", "olcSuffix", "olcSizeLimit", "olcLimits", "olcDbIndex"])
        #expect(config.status == 0, "\(config.combinedOutput)")
        #expect(config.standardOutput.contains("olcSizeLimit: 500"))
        #expect(config.standardOutput.contains("olcSuffix: dc=example,dc=com"))
        #expect(config.standardOutput.contains("olcDbIndex: modifyTimestamp eq"))
        #expect(config.standardOutput.contains(#"olcLimits: {0}dn.exact="cn=sync,ou=services,dc=example,dc=com" size=unlimited time=unlimited"#))

        let data = try server.runAsExternal("ldapsearch", ["-b", "dc=example,dc=com", "-s", "one", "(objectClass=*)", "1.1"])
        #expect(data.status == 0, "\(data.combinedOutput)")
        #expect(data.dnCount == 3)  // ou=people, ou=groups, ou=services
    }

    @Test func pidIsSlapdItself() throws {
        let server = try SlapdServer.start()
        let pid = try #require(server.pid)

        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")
        #expect(executable.hasSuffix("/slapd"))
        let pidFile = try String(contentsOf: server.directory.appendingPathComponent("slapd.pid"), encoding: .utf8)
        #expect(pidFile.trimmingCharacters(in: .whitespacesAndNewlines) == String(pid))
        #expect(SlapdServer.runningPIDs.contains(pid))

        // posix_spawn passes on the spawning thread's signal mask; test threads block
        // SIGTERM, and a slapd that inherits that mask can only be killed, not stopped.
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let blocked = try #require(status.split(separator: "\n").first { $0.hasPrefix("SigBlk:") })
        let mask = try #require(UInt64(blocked.dropFirst("SigBlk:".count).trimmingCharacters(in: .whitespaces), radix: 16))
        #expect(mask & (1 << (UInt64(SIGTERM) - 1)) == 0, "slapd blocks SIGTERM: \(blocked)")
    }

    @Test func slapaddComputesOperationalAttributes() throws {
        let server = try SlapdServer.start(ldif: Fixtures.people(count: 20) + Fixtures.groups(count: 2, membersPerGroup: 5, peopleCount: 20))

        let person = try server.search(as: .sync, base: "uid=user000003,ou=people,dc=example,dc=com", ["*", "+"])
        #expect(person.status == 0, "\(person.combinedOutput)")
        #expect(person.standardOutput.contains("entryUUID: "))
        #expect(person.standardOutput.contains("modifyTimestamp: "))
        #expect(person.standardOutput.contains("mail: user000003@example.com"))
        #expect(person.standardOutput.contains("mail: user000003.alias@mail.example.com"))

        // Person 19 is "Zoë": non-ASCII values travel base64-encoded and intact.
        let zoe = try server.search(as: .sync, base: "uid=user000019,ou=people,dc=example,dc=com", ["givenName"])
        #expect(zoe.standardOutput.contains("givenName:: \(Data("Zoë".utf8).base64EncodedString())"))

        let group = try server.search(as: .sync, base: "cn=group0002,ou=groups,dc=example,dc=com", ["member"])
        #expect(group.standardOutput.components(separatedBy: "\nmember: ").count - 1 == 5)
        #expect(group.standardOutput.contains("member: uid=user000006,ou=people,dc=example,dc=com"))
    }

    @Test func syncAccountPagesPastTheSizeLimit() throws {
        let server = try SlapdServer.start(ldif: Fixtures.people(count: 1200))

        let result = try server.search(as: .sync, base: "ou=people,dc=example,dc=com", filter: "(objectClass=inetOrgPerson)", ["1.1"], paged: true)
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.dnCount == 1200)
    }

    @Test(arguments: [false, true])
    func limitedAccountHitsTheSizeLimit(paged: Bool) throws {
        let server = try SlapdServer.start(ldif: Fixtures.people(count: 1200))

        let result = try server.search(as: .limited, base: "ou=people,dc=example,dc=com", filter: "(objectClass=inetOrgPerson)", ["1.1"], paged: paged)
        #expect(result.status == 4, "expected sizeLimitExceeded: \(result.standardError)")
        #expect(result.standardError.contains("Size limit exceeded"))
        #expect(result.dnCount == server.configuration.sizeLimit)
    }

    @Test func syncAccountWritesPeopleButNotServices() throws {
        let server = try SlapdServer.start(ldif: Fixtures.people(count: 2))
        let change = { (dn: String) in "dn: \(dn)\nchangetype: modify\nreplace: description\ndescription: changed\n" }

        let people = try server.run("ldapmodify", bindAs: server.configuration.syncDN, password: server.configuration.syncPassword,
                                    standardInput: change("uid=user000001,ou=people,dc=example,dc=com"))
        #expect(people.status == 0, "\(people.combinedOutput)")

        let services = try server.run("ldapmodify", bindAs: server.configuration.syncDN, password: server.configuration.syncPassword,
                                      standardInput: change(server.configuration.limitedDN))
        #expect(services.status == 50, "expected insufficientAccess: \(services.combinedOutput)")

        let limited = try server.run("ldapmodify", bindAs: server.configuration.limitedDN, password: server.configuration.limitedPassword,
                                     standardInput: change("uid=user000002,ou=people,dc=example,dc=com"))
        #expect(limited.status == 50, "expected insufficientAccess: \(limited.combinedOutput)")
    }

    @Test func tlsServesLDAPSAndStartTLSWithTheTestCA() throws {
        var configuration = SlapdServer.Configuration()
        configuration.tls = true
        let server = try SlapdServer.start(configuration)
        let caFile = try #require(server.caFile)
        let ldaps = try #require(server.ldapsLocalhostURL)
        let trusting: [String: String?] = ["LDAPNOINIT": nil, "LDAPTLS_CACERT": caFile, "LDAPTLS_REQCERT": "demand", "HOME": server.directory.path]

        for url in [ldaps, try #require(server.ldapsURL)] {
            let result = try server.run("ldapwhoami", ["-H", url], bindAs: configuration.syncDN, password: configuration.syncPassword, environment: trusting)
            #expect(result.status == 0, "\(url): \(result.combinedOutput)")
            #expect(result.standardOutput.contains("dn:cn=sync,ou=services,dc=example,dc=com"))
        }

        let startTLS = try server.run("ldapwhoami", ["-H", server.localhostURL, "-ZZ"], bindAs: configuration.syncDN, password: configuration.syncPassword, environment: trusting)
        #expect(startTLS.status == 0, "\(startTLS.combinedOutput)")

        // Without the test CA the certificate must be rejected, or the checks above prove nothing.
        let empty = try server.writePasswordFile("")
        let untrusting: [String: String?] = ["LDAPNOINIT": nil, "LDAPTLS_CACERT": empty, "LDAPTLS_REQCERT": "demand", "HOME": server.directory.path]
        let rejected = try server.run("ldapwhoami", ["-H", ldaps], bindAs: configuration.syncDN, password: configuration.syncPassword, environment: untrusting)
        #expect(rejected.status != 0)
    }

    @Test func killThenRestartKeepsTheData() throws {
        let server = try SlapdServer.start(ldif: Fixtures.people(count: 10))
        let url = server.url
        try server.add(ldif: Fixtures.people(count: 1, startIndex: 10))
        let killed = try #require(server.pid)

        server.kill()
        #expect(server.pid == nil)
        #expect(!processExists(killed))
        #expect(try server.search(as: .sync, base: "ou=people,dc=example,dc=com", ["1.1"]).status == 255)  // server down

        try server.restart()
        #expect(server.url == url)
        #expect(try #require(server.pid) != killed)
        let people = try server.search(as: .sync, base: "ou=people,dc=example,dc=com", filter: "(objectClass=inetOrgPerson)", ["1.1"])
        #expect(people.status == 0, "\(people.combinedOutput)")
        #expect(people.dnCount == 11)
    }

    @Test func stopEndsTheProcessAndRestartResumes() throws {
        let server = try SlapdServer.start(ldif: Fixtures.people(count: 5))
        let stopped = try #require(server.pid)

        try server.stop()
        #expect(server.log.contains("slapd stopped."))  // a clean shutdown, not a kill
        #expect(server.pid == nil)
        #expect(!processExists(stopped))
        #expect(!SlapdServer.runningPIDs.contains(stopped))
        try server.stop()  // stopping a stopped server does nothing

        try server.restart()
        #expect(throws: SlapdError.self) { try server.restart() }  // already running
        let people = try server.search(as: .sync, base: "ou=people,dc=example,dc=com", filter: "(objectClass=inetOrgPerson)", ["1.1"])
        #expect(people.dnCount == 5)
    }

    @Test func restartReportsAPortTakenMeanwhile() throws {
        let server = try SlapdServer.start()
        let port = try #require(Int(server.url.split(separator: ":").last!))
        try server.stop()

        let squatter = try listen(onLoopbackPort: port)
        let error = try #require(throws: SlapdError.self) { try server.restart() }
        close(squatter)
        #expect("\(error)".contains("Address already in use"), "\(error)")
        #expect(server.pid == nil)

        try server.restart()
        #expect(server.pid != nil)
    }

    @Test func modifyChangesAnEntryAsRoot() throws {
        let server = try SlapdServer.start(ldif: Fixtures.people(count: 1))
        try server.modify(ldif: """
            dn: uid=user000001,ou=people,dc=example,dc=com
            changetype: modify
            replace: description
            description: modified by the harness

            """)
        let person = try server.search(as: .sync, base: "uid=user000001,ou=people,dc=example,dc=com", ["description"])
        #expect(person.standardOutput.contains("description: modified by the harness"))
    }

    @Test func extraSchemaAppearsInTheSubschema() throws {
        var configuration = SlapdServer.Configuration()
        configuration.extraSchema = [Fixtures.trainingRecordSchema]
        let server = try SlapdServer.start(configuration, ldif: """
            dn: uid=trainee,ou=people,dc=example,dc=com
            objectClass: inetOrgPerson
            objectClass: trainingPerson
            uid: trainee
            cn: Trainee
            sn: Trainee
            trainingRecord: fire safety 2024

            """)

        let schema = try server.search(as: .limited, base: "cn=Subschema", scope: "base", ["attributeTypes", "objectClasses"])
        #expect(schema.status == 0, "\(schema.combinedOutput)")
        #expect(schema.standardOutput.contains("( 1.3.6.1.4.1.99999.1.1 NAME 'trainingRecord'"))
        #expect(schema.standardOutput.contains("NAME 'trainingPerson'"))
        let trainee = try server.search(as: .sync, base: "uid=trainee,ou=people,dc=example,dc=com", ["trainingRecord"])
        #expect(trainee.standardOutput.contains("trainingRecord: fire safety 2024"))
    }

    @Test func releasingTheServerKillsSlapdAndRemovesItsDirectory() throws {
        var server: SlapdServer? = try SlapdServer.start()
        let pid = try #require(server?.pid)
        let directory = try #require(server?.directory)
        #expect(FileManager.default.fileExists(atPath: directory.path))

        server = nil
        #expect(!processExists(pid))
        #expect(!FileManager.default.fileExists(atPath: directory.path))
        #expect(!SlapdServer.runningPIDs.contains(pid))
    }

    @Test func reportsSlapaddFailuresWithItsOutput() throws {
        let error = try #require(throws: SlapdError.self) {
            _ = try SlapdServer.start(ldif: "dn: uid=x,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: x\ncn: x\nsn: x\nnoSuchAttribute: y\n")
        }
        guard case .commandFailed(let command, _, let output) = error else {
            Issue.record("unexpected error \(error)")
            return
        }
        #expect(command.hasPrefix("slapadd"))
        #expect(output.contains("noSuchAttribute"))
    }

    @Test func fixturesAreDeterministic() {
        #expect(Fixtures.people(count: 3, startIndex: 7) == Fixtures.people(count: 3, startIndex: 7))
        #expect(Fixtures.people(count: 2, startIndex: 7).hasPrefix("dn: uid=user000008,ou=people,dc=example,dc=com\n"))
        #expect(Fixtures.personUID(1) == "user000001")
        #expect(Fixtures.groupCN(12) == "group0012")
        // More members than people: clamped, so no member repeats.
        let group = Fixtures.groups(count: 1, membersPerGroup: 5, peopleCount: 2)
        #expect(group.components(separatedBy: "\nmember: ").count - 1 == 2)
    }
}

// MARK: - Running the OpenLDAP clients

private enum Account {
    case sync, limited
}

private extension SlapdServer {
    /// Runs an OpenLDAP client with a simple bind; the password goes in a 0600 file (`-y`).
    /// `LDAPNOINIT` keeps the machine's ldap.conf and the user's ldaprc out of it.
    func run(
        _ tool: String,
        _ arguments: [String] = [],
        bindAs dn: String,
        password: String,
        environment: [String: String?] = ["LDAPNOINIT": "1"],
        standardInput: String? = nil
    ) throws -> ExternalCommand.Result {
        let passwordFile = try writePasswordFile(password)
        defer { try? FileManager.default.removeItem(atPath: passwordFile) }
        let url = arguments.contains("-H") ? [] : ["-H", self.url]
        return try ExternalCommand.run(
            tool, url + ["-x", "-D", dn, "-y", passwordFile, "-o", "nettimeout=10"] + arguments,
            environment: environment, standardInput: standardInput, timeout: .seconds(60))
    }

    /// Runs an OpenLDAP client over ldapi with SASL EXTERNAL (this process's uid/gid).
    func runAsExternal(_ tool: String, _ arguments: [String]) throws -> ExternalCommand.Result {
        let output = tool == "ldapsearch" ? ["-LLL", "-o", "ldif_wrap=no"] : []
        return try ExternalCommand.run(
            tool, ["-H", ldapiURL, "-Y", "EXTERNAL", "-Q"] + output + arguments,
            environment: ["LDAPNOINIT": "1"], timeout: .seconds(60))
    }

    func search(
        as account: Account,
        base: String,
        scope: String = "sub",
        filter: String = "(objectClass=*)",
        _ attributes: [String],
        paged: Bool = false
    ) throws -> ExternalCommand.Result {
        let (dn, password) = switch account {
        case .sync: (configuration.syncDN, configuration.syncPassword)
        case .limited: (configuration.limitedDN, configuration.limitedPassword)
        }
        let paging = paged ? ["-E", "pr=100/noprompt"] : []
        return try run("ldapsearch", ["-LLL", "-o", "ldif_wrap=no", "-b", base, "-s", scope] + paging + [filter] + attributes,
                       bindAs: dn, password: password)
    }
}

private extension ExternalCommand.Result {
    /// The number of entries in ldapsearch's LDIF output.
    var dnCount: Int {
        standardOutput.split(separator: "\n").filter { $0.hasPrefix("dn: ") || $0.hasPrefix("dn:: ") }.count
    }
}

/// A socket listening on 127.0.0.1:`port`, to hold a port the server wants.
private func listen(onLoopbackPort port: Int) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    try #require(fd >= 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    try #require(bound == 0, "bind: \(String(cString: strerror(errno)))")
    try #require(Glibc.listen(fd, 1) == 0)
    return fd
}

/// True while `pid` names a process (a zombie counts: it has not been reaped).
private func processExists(_ pid: pid_t) -> Bool {
    kill(pid, 0) == 0 || errno != ESRCH
}
