import DirectoryModel
import LDAPClient
import SlapdSupport

/// Servers shared by the tests of one process, started on first use. Tests that stop or
/// kill a server start their own.
enum TestServers {
    /// 5,200 people (the paged-search population) plus the base entries.
    static let people = 5_200

    static let standard: Result<SlapdServer, any Error> = Result {
        try SlapdServer.start(ldif: Fixtures.people(count: people))
    }

    static let tls: Result<SlapdServer, any Error> = Result {
        var configuration = SlapdServer.Configuration()
        configuration.tls = true
        return try SlapdServer.start(configuration, ldif: Fixtures.people(count: 10))
    }
}

extension SlapdServer {
    /// A connection bound as the sync account.
    func syncConnection(options: ConnectionOptions = .init()) throws -> LDAPConnection {
        let connection = try LDAPConnection(url: url, options: options)
        try connection.bind(dn: configuration.syncDN, password: Secret(configuration.syncPassword))
        return connection
    }

    /// A connection bound as the directory manager.
    func rootConnection() throws -> LDAPConnection {
        let connection = try LDAPConnection(url: url)
        try connection.bind(dn: configuration.rootDN, password: Secret(configuration.rootPassword))
        return connection
    }

    var peopleBase: String { "ou=people,\(configuration.suffix)" }
}

extension Entry {
    func strings(_ name: AttributeName) -> [String] {
        (self[name] ?? []).map { String(decoding: $0, as: UTF8.self) }
    }
}
