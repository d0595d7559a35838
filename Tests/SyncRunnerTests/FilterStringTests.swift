import DirectoryModel
@testable import SyncRunner
import Testing

@Suite struct IncrementalFilterTests {
    @Test(arguments: [
        ("openldap", "(objectClass=inetOrgPerson)", "modifyTimestamp", "(&(objectClass=inetOrgPerson)(modifyTimestamp>=20261121153000Z))"),
        ("yyyyMMddHHmmssZ", "(objectClass=inetOrgPerson)", "modifyTimestamp", "(&(objectClass=inetOrgPerson)(modifyTimestamp>=20261121153000Z))"),
        ("ad", "(&(objectCategory=person)(objectClass=user))", "whenChanged", "(&(&(objectCategory=person)(objectClass=user))(whenChanged>=20261121153000.0Z))"),
        ("yyyyMMddHHmmss.Z", "(objectClass=user)", "whenChanged", "(&(objectClass=user)(whenChanged>=20261121153000.0Z))"),
        ("yyyyMMddHHmmss'Z'", "objectClass=person", "modifyTimestamp", "(&(objectClass=person)(modifyTimestamp>=20261121153000Z))"),
    ])
    func filtersHaveTheTimestampBoundInThePattern(pattern: String, configured: String, attribute: String, expected: String) throws {
        let since = try Timestamp(generalizedTime: "20261121153000.75Z")
        let filter = try DirectoryRun.incrementalFilter(configured, attribute: AttributeName(attribute),
                                                        pattern: TimestampPattern(pattern), since: since)
        #expect(filter == expected)
    }
}
