import DirectoryModel
@testable import SyncEngine
import Testing

@Suite struct DNKeyTests {
    /// The reference: parse, normalize, print.
    private func slowKey(_ dn: String) -> String? {
        try? DistinguishedName(parsing: dn).normalized.description
    }

    @Test(arguments: [
        ("uid=John  Smith,ou=People,dc=Example,dc=COM", "uid=john smith,ou=people,dc=example,dc=com"),
        (" UID = jdoe , OU=people ,DC=example", "uid=jdoe,ou=people,dc=example"),
        ("2.5.4.3=Ada,dc=x", "2.5.4.3=ada,dc=x"),
        ("cn=a=b,dc=x", "cn=a=b,dc=x"),
        ("", ""),
    ])
    func simpleDNsTakeTheFastPathAndMatchTheFullNormalization(dn: String, expected: String) throws {
        #expect(DNKey.simpleKey(dn) == expected)
        #expect(slowKey(dn) == expected)
    }

    @Test(arguments: ["cn=Lučić,dc=x", "cn=a\\,b,dc=x", "cn=a+sn=b,dc=x", "cn=#0101,dc=x", "c n=x,dc=y", "cn=x,,dc=y", "=x", "cn=,dc=x", "cn=\"q\",dc=x"])
    func otherDNsTakeTheFullPath(dn: String) {
        #expect(DNKey.simpleKey(dn) == nil)
    }

    @Test(arguments: [1, 2, 3, 4])
    func fastPathAgreesWithTheFullNormalizationOnRandomDNs(seed: UInt64) throws {
        var state = seed &* 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        func pick<T>(_ items: [T]) -> T { items[Int(next() % UInt64(items.count))] }
        let types = ["cn", "CN", "uid", "Ou", "dc", "2.5.4.3", "x-attr", "c n", "1..2"]
        let characters = Array("aZ09 -._@=  \t,\\+#\"é;")
        for index in 0..<3_000 {
            let rdns = (0..<(1 + Int(next() % 4))).map { _ in
                let value = String((0..<Int(next() % 8)).map { _ in pick(characters) })
                return pick(["", " "]) + pick(types) + pick(["", " "]) + "=" + value
            }
            let dn = rdns.joined(separator: pick([",", " ,", ", "]))
            if let fast = DNKey.simpleKey(dn) {
                #expect(fast == slowKey(dn), "seed \(seed) case \(index): \(dn.debugDescription)")
            }
        }
    }
}
