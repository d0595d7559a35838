import Testing
@testable import SyncRunner

/// ClaimTable gives the answers of the two dictionaries it replaces.
@Suite struct ClaimTableTests {
    @Test func answersAsTwoDictionariesDoThroughGrowthAndReclaims() {
        var table = ClaimTable()
        var keyClaims: [Digest: Digest] = [:]
        var claimedKeys: [Digest: Digest] = [:]
        var generator = SystemRandomNumberGenerator()
        // Keys and ids of both kinds: short (kept exactly) and long (hashed).
        func digest(_ number: Int, long: Bool) -> Digest {
            Digest(long ? "an-identifier-longer-than-fifteen-\(number)" : "k\(number)")
        }
        for number in 0..<200_000 {
            // Now and then a key claimed again by another entry, or an entry claiming anew.
            let key = digest(number % 7 == 0 ? number / 2 : number, long: number % 3 == 0)
            let id = digest(number % 11 == 0 ? number / 3 : number + 1_000_000, long: number % 2 == 0)
            table.claim(key: key, id: id)
            keyClaims[key] = id
            claimedKeys[id] = key
        }
        for number in 0..<200_000 {
            let key = digest(number, long: number % 3 == 0)
            #expect(table.id(claiming: key) == keyClaims[key])
            let id = digest(number + 1_000_000, long: number % 2 == 0)
            #expect(table.key(claimedBy: id) == claimedKeys[id])
        }
        for _ in 0..<1_000 {
            let absent = digest(Int.random(in: 5_000_000..<6_000_000, using: &generator), long: Bool.random(using: &generator))
            #expect(table.id(claiming: absent) == nil)
            #expect(table.key(claimedBy: absent) == nil)
        }
    }
}
