import SyncConfig

/// Name resolution, TCP reach and TLS (handshake, chain, expiry, host name) of one
/// directory's URL: the checks that run before any bind.
enum ReachChecks {
    /// Returns the checks in order and whether an LDAP connection can be attempted; when
    /// it cannot, the directory's later checks print SKIP naming this failure.
    // PLACEHOLDER until the reach/TLS checks land (issue #5): reports nothing.
    static func run(_ directory: DirectoryConfiguration) -> (checks: [DoctorCheck], reachable: Bool) {
        ([], true)
    }
}
